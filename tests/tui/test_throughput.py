"""The throughput pane says what happens now only while the run trains."""

from __future__ import annotations

import pytest
from scripted_run import T0, run_started

from cnntui.engine.events import RunFailed, RunFinished, StateChanged, StepMetrics
from cnntui.errors import EXIT_DIVERGED
from cnntui.tui.state import RunState
from cnntui.tui.widgets.throughput import throughput_text


def window(step: int, steps_per_sec: float, data_wait: float) -> StepMetrics:
    """Ten steps of 256 examples at `steps_per_sec`."""
    return StepMetrics(
        step=step,
        epoch=0,
        epoch_step=step,
        loss=2.0,
        accuracy=0.5,
        lr=0.9,
        examples_per_sec=steps_per_sec * 256,
        steps_per_sec=steps_per_sec,
        data_wait=data_wait,
        examples=step * 256,
        elapsed=step / 10,
        time=T0 + step,
    )


def trained_state() -> RunState:
    """1 s at 10 steps/s waiting half of it on data, then a last window of 0.1 s at 100 steps/s
    (the short, fast window that often ends an epoch): 20 steps in 1.1 s, 45.5% waiting."""
    state = RunState()
    state.apply([run_started(), window(10, 10.0, 0.5), window(20, 100.0, 0.0)])
    return state


def test_while_training_the_last_window_is_now() -> None:
    text = throughput_text(trained_state()).plain
    assert text.splitlines() == [
        "25,600 ex/s now · 4,655 avg",
        "100 steps/s · lr 0.9",
        "waiting on data 0.0%",
    ]


@pytest.mark.parametrize(
    ("ending", "word"),
    [
        (StateChanged(state="paused", step=20), "paused"),
        (RunFinished(status="finished", exit_code=0, step=20, epoch=0, duration=2.0), "finished"),
        (
            RunFinished(status="interrupted", exit_code=130, step=20, epoch=0, duration=2.0),
            "interrupted",
        ),
        (
            RunFinished(status="diverged", exit_code=EXIT_DIVERGED, step=20, epoch=0, duration=2.0),
            "diverged",
        ),
        (RunFailed(error="boom", traceback="", step=20), "failed"),
    ],
    ids=["paused", "finished", "interrupted", "diverged", "failed"],
)
def test_paused_or_ended_the_figures_are_the_runs_averages(ending, word) -> None:
    state = trained_state()
    changed = state.apply([ending])
    assert "throughput" in changed  # the pane is redrawn as the run ends, not left as it was
    assert throughput_text(state).plain.splitlines() == [
        f"{word} · 4,655 ex/s avg",
        "18.2 steps/s avg · lr 0.9",
        "waiting on data 45.5% (input-bound)",
    ]
