"""Charts redraw at most once a second however fast events come, and end on the latest data.

A chart redraw is 5-15 ms of Python holding the GIL the training thread needs, so this bound is
what keeps the dashboard from slowing training (measured in bench/dashboard.py).
"""

from __future__ import annotations

import itertools
import time

from scripted_run import scripted_events, until

from cnntui.engine.events import Event
from cnntui.tui.dashboard import Dashboard
from cnntui.tui.widgets.chart import MetricChart
from cnntui.tui.widgets.layers import LayerTable
from cnntui.tui.widgets.paced import MIN_REDRAW_INTERVAL, REDRAW_BUDGET


class TrickleSource:
    """Hands over a few events per drain, like a live run does."""

    dropped = 0

    def __init__(self, events: list[Event], per_drain: int) -> None:
        self._events = list(events)
        self.per_drain = per_drain

    def drain(self) -> list[Event]:
        batch, self._events = self._events[: self.per_drain], self._events[self.per_drain :]
        return batch


async def test_charts_redraw_once_a_second_and_catch_up(monkeypatch) -> None:
    renders: list[str] = []
    real_render = MetricChart.render

    def counting_render(self):
        renders.append(self.id)
        return real_render(self)

    monkeypatch.setattr(MetricChart, "render", counting_render)
    events = scripted_events(finish=False)
    source = TrickleSource(events, per_drain=2)
    app = Dashboard(source, poll_interval=0.02, ui_cpu_budget=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(1.5)
        loss_renders = renders.count("loss")
        # About 75 drains in 1.5 s, each changing the loss chart's data: at most 1 + 1.5/1 redraws.
        assert 1 <= loss_renders <= 1 + int(1.5 / MIN_REDRAW_INTERVAL) + 1
        assert await until(pilot, lambda: not source._events, timeout=10)
        await pilot.pause(MIN_REDRAW_INTERVAL + 0.3)
        chart = app.query_one("#loss", MetricChart)
        # The redraw left pending by the last events has run: the chart shows the final state.
        assert chart.border_subtitle == chart.subtitle(app.state)
        assert app.state.step == max(e.step for e in events if e.kind == "step")


async def test_a_slow_chart_redraws_less_often(monkeypatch) -> None:
    """On a machine whose cores training keeps busy a render takes longer; the redraws spread
    out so that a chart stays within its share of the time."""
    real_render_plot = MetricChart._render_plot

    def slow_render_plot(self, state, width, height):
        started = time.perf_counter()
        while time.perf_counter() - started < 0.05:
            pass  # a 50 ms render, as on a loaded 2-core machine
        return real_render_plot(self, state, width, height)

    monkeypatch.setattr(MetricChart, "_render_plot", slow_render_plot)
    events = scripted_events(finish=False)
    app = Dashboard(TrickleSource(events, per_drain=2), poll_interval=0.02)
    async with app.run_test(size=(160, 48)) as pilot:
        chart = app.query_one("#loss", MetricChart)
        pacing = chart.pacing
        assert await until(pilot, lambda: pacing.render_seconds > 0, timeout=5)
        assert pacing.render_seconds >= 0.05
        assert pacing.interval == pacing.render_seconds / REDRAW_BUDGET >= 2.5


async def test_the_layer_table_follows_health_at_most_once_a_second_and_catches_up() -> None:
    events = scripted_events(finish=False)
    source = TrickleSource(events, per_drain=2)
    app = Dashboard(source, poll_interval=0.02, ui_cpu_budget=None)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(LayerTable)
        redraws: list[float] = []
        real_redraw = table.pacing.redraw

        def counting_redraw() -> None:
            redraws.append(time.monotonic())
            real_redraw()

        table.pacing.redraw = counting_redraw
        assert await until(pilot, lambda: not source._events, timeout=10)
        await pilot.pause(MIN_REDRAW_INTERVAL + 0.3)
        gaps = [b - a for a, b in itertools.pairwise(redraws)]
        assert redraws and all(gap >= MIN_REDRAW_INTERVAL * 0.9 for gap in gaps)
        # The last health sample is on screen: the deferred redraw ran.
        last = app.state.health_step
        assert last and table.border_subtitle == f"step {last:,}"
