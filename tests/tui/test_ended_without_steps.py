"""A run that ends before its first step is reported (diverged in its first window) says so in
its charts and throughput pane, which went on waiting for steps."""

from __future__ import annotations

import math
from dataclasses import replace

from conftest import pane_text, replay_app
from scripted_run import T0, run_started, scripted_events, until

from cnntui.engine.events import RunFinished, StateChanged, StepMetrics

NAN_MESSAGE = "loss became nan at step 3 (epoch 1)"


def diverged(step_events: list) -> list:
    """`--lr 1e6` on a fast net: 16 steps ran, then the run was stopped as diverged."""
    return [
        run_started(epochs=1, steps_per_epoch=16),
        StateChanged(state="running", step=0, time=T0 + 0.5),
        *step_events,
        RunFinished(
            status="diverged", exit_code=3, step=16, epoch=0, duration=0.1, message=NAN_MESSAGE,
            time=T0 + 1,
        ),
    ]  # fmt: skip


async def test_no_step_reported_before_the_end() -> None:
    # The engine's first read window had not come: no step event at all.
    app = replay_app(diverged([]))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state.finished is not None)
        await pilot.pause(0.1)
        for chart in ("#loss", "#accuracy"):
            assert "no step was reported before the run ended" in pane_text(app, chart)
        throughput = pane_text(app, "#throughput-numbers")
    assert "diverged before any step was reported" in throughput
    assert "–" not in throughput  # no figures to come


async def test_every_loss_non_finite() -> None:
    window = next(e for e in scripted_events(upto_step=10) if isinstance(e, StepMetrics))
    nans = replace(window, step=16, loss=math.nan, losses=[math.nan] * 16, accuracy=0.1)
    app = replay_app(diverged([nans]))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state.finished is not None)
        await pilot.pause(0.1)
        assert "every step's loss was nan or inf" in pane_text(app, "#loss")
        assert "diverged · " in pane_text(app, "#throughput-numbers")  # a step was reported


async def test_the_device_pane_says_the_run_ended_before_its_statistics() -> None:
    """The engine reads device statistics after its first read window: a run that ended
    before it left the pane saying "no device statistics yet" for good."""
    app = replay_app(diverged([]))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state.finished is not None)
        await pilot.pause(0.1)
        device = pane_text(app, "#device")
    assert "the run ended before device statistics were read" in device
    assert "yet" not in device


async def test_the_device_pane_keeps_its_last_statistics_once_the_run_ends() -> None:
    app = replay_app(scripted_events())
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state.finished is not None)
        await pilot.pause(0.1)
        device = pane_text(app, "#device")
    assert device.startswith("cpu") and "RSS" in device and "statistics" not in device
