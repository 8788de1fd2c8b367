"""The loss and accuracy charts share one x axis: the same column is the same epoch in both."""

from __future__ import annotations

from dataclasses import replace

from conftest import pane_text, replay_app
from scripted_run import scripted_events, until

from cnntui.tui.state import RunState
from cnntui.tui.widgets.chart import MetricChart, x_span


def x_tick_labels(chart: MetricChart) -> list[str]:
    """The labels under the x axis: the line after the one holding the axis's corner (└)."""
    lines = pane_text(chart.app, f"#{chart.id}").splitlines()
    corner = next(i for i, line in enumerate(lines) if "└" in line)
    return lines[corner + 1].split()


async def test_loss_and_accuracy_span_the_same_epochs() -> None:
    # The loss has every step from step 1, the accuracy one point per 10-step window from step
    # 10: each chart's own data began its axis at 0.01 and 0.10.
    app = replay_app(scripted_events(finish=False, upto_step=150))
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.step == 150)
        loss, accuracy = (
            app.query_one("#loss", MetricChart),
            app.query_one("#accuracy", MetricChart),
        )
        assert loss.size == accuracy.size  # side by side, so the same ticks mean the same epochs
        await until(pilot, lambda: "1.5" in " ".join(x_tick_labels(loss)))
        loss_ticks, accuracy_ticks = x_tick_labels(loss), x_tick_labels(accuracy)
    assert loss_ticks == accuracy_ticks
    # From the run's start (epoch 0) to its latest step (150 of 100 a epoch).
    assert float(loss_ticks[0]) == 0.0 and float(loss_ticks[-1]) == 1.5, loss_ticks


def resumed_at_150() -> list:
    """The events a run resumed at step 150 writes: its RunStarted says so, steps go on."""
    events = scripted_events(finish=False)
    started = replace(events[0], start_step=150)
    return [started, *(e for e in events[1:] if getattr(e, "step", 0) > 150)]


def test_a_resumed_run_starts_its_axis_where_it_resumed() -> None:
    state = RunState()
    state.apply(resumed_at_150())
    assert x_span(state) == (1.5, 3.0)


def test_a_resumed_log_keeps_its_earlier_sessions_on_the_axis() -> None:
    # watch of a resumed run: its events.jsonl holds the first session (steps 1-150) too.
    state = RunState()
    state.apply(scripted_events(finish=False, upto_step=150) + resumed_at_150())
    assert x_span(state) == (0.0, 3.0)


def test_a_log_resumed_from_an_earlier_checkpoint_keeps_its_later_steps_on_the_axis() -> None:
    # The first session went on to step 250 (diverged, say) after the last.pt of step 150 it
    # is resumed from: its steps 151-250 were cut off the axis, which ended at step 150.
    state = RunState()
    state.apply(scripted_events(finish=False, upto_step=250) + resumed_at_150()[:1])
    assert state.step == 150
    assert x_span(state) == (0.0, 2.5)
