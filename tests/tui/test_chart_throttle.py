"""Charts redraw at most once a second however fast events come, and end on the latest data.

A chart redraw is 5-15 ms of Python holding the GIL the training thread needs, so this bound is
what keeps the dashboard from slowing training (measured in bench/dashboard.py).
"""

from __future__ import annotations

import itertools
import time

from scripted_run import TrickleSource, scripted_events, until

from cnntui.tui.dashboard import Dashboard
from cnntui.tui.widgets.accuracy_chart import AccuracyChart
from cnntui.tui.widgets.chart import MetricChart
from cnntui.tui.widgets.layers import LayerTable
from cnntui.tui.widgets.paced import MIN_REDRAW_INTERVAL, REDRAW_BUDGET, PacedRedraw


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
        assert await until(pilot, lambda: not source._events)
        chart = app.query_one("#loss", MetricChart)
        # The redraw left pending by the last events runs: the chart comes to show the final
        # state (after up to `pacing.interval`, which grows past a second on a loaded machine).
        assert await until(
            pilot, lambda: chart.border_subtitle == chart.subtitle(app.state), timeout=10
        )
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
        assert await until(pilot, lambda: pacing.render_seconds > 0)
        assert pacing.render_seconds >= 0.05
        # The loss and accuracy charts share one pacing: their two costs within two budgets.
        assert pacing.budget == 2 * REDRAW_BUDGET
        assert pacing.interval == pacing.render_seconds / pacing.budget >= 2.5


async def test_loss_and_accuracy_redraw_together_from_the_same_state(monkeypatch) -> None:
    redraws: list[tuple[str, int]] = []
    real_redraw = MetricChart._redraw

    def recording_redraw(self):
        redraws.append((self.id, self._state.step if self._state else -1))
        real_redraw(self)

    monkeypatch.setattr(MetricChart, "_redraw", recording_redraw)
    real_render_plot = AccuracyChart._render_plot

    def slow_render_plot(self, state, width, height):
        started = time.perf_counter()
        while time.perf_counter() - started < 0.02:
            pass  # paced alone, this chart would redraw every 4 s and the loss chart every 1 s
        return real_render_plot(self, state, width, height)

    monkeypatch.setattr(AccuracyChart, "_render_plot", slow_render_plot)
    events = scripted_events(finish=False)
    source = TrickleSource(events, per_drain=2)
    app = Dashboard(source, poll_interval=0.02, ui_cpu_budget=None)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: not source._events)
        assert await until(pilot, lambda: len(redraws) >= 4)
    # Every redraw is a pair: loss then accuracy, at the same step.
    pairs = list(zip(redraws[::2], redraws[1::2], strict=False))
    assert pairs and all(
        (loss[0], accuracy[0]) == ("loss", "accuracy") and loss[1] == accuracy[1]
        for loss, accuracy in pairs
    )


async def test_the_layer_table_follows_health_at_most_once_a_second_and_catches_up() -> None:
    events = scripted_events(finish=False)
    source = TrickleSource(events, per_drain=2)
    app = Dashboard(source, poll_interval=0.02, ui_cpu_budget=None)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(LayerTable)
        # New rows show at once, by design; what is paced is the health that follows them.
        assert await until(pilot, lambda: app.state.active and table.row_count > 0)
        redraws: list[float] = []
        real_redraw = table.pacing.redraw

        def counting_redraw() -> None:
            redraws.append(time.monotonic())
            real_redraw()

        table.pacing.redraw = counting_redraw
        assert await until(pilot, lambda: not source._events)
        # The last health sample comes on screen: the deferred redraw runs.
        last = app.state.health_step
        assert last and await until(
            pilot, lambda: table.border_subtitle == f"step {last:,}", timeout=10
        )
        gaps = [b - a for a, b in itertools.pairwise(redraws)]
        assert redraws and all(gap >= MIN_REDRAW_INTERVAL * 0.9 for gap in gaps)


class FakeTimer:
    def __init__(self, delay: float, callback) -> None:
        self.delay, self.callback, self.stopped = delay, callback, False

    def stop(self) -> None:
        self.stopped = True


class FakeWidget:
    def __init__(self) -> None:
        self.timers: list[FakeTimer] = []

    def set_timer(self, delay: float, callback) -> FakeTimer:
        self.timers.append(FakeTimer(delay, callback))
        return self.timers[-1]


def test_a_redraw_now_takes_the_place_of_the_deferred_one() -> None:
    widget = FakeWidget()
    redraws: list[float] = []
    pacing = PacedRedraw(widget, lambda: redraws.append(time.monotonic()))
    pacing.request()  # the first redraw runs at once
    pacing.request()  # within the spacing: deferred
    pacing.request()  # already deferred: no second timer
    assert len(redraws) == 1 and len(widget.timers) == 1
    deferred = widget.timers[0]
    assert 0 < deferred.delay <= MIN_REDRAW_INTERVAL
    pacing.request(now=True)  # new structure: at once, and the deferred redraw is dropped
    assert len(redraws) == 2 and deferred.stopped
    pacing.request()  # a new deferral gets its own timer, and firing it redraws
    assert len(widget.timers) == 2
    widget.timers[1].callback()
    assert len(redraws) == 3
    pacing.request()
    assert len(widget.timers) == 3  # the fired timer no longer counts as pending
