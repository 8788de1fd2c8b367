"""`cnntui watch` on a run busy in a long phase that writes no step (here an evaluation): live
while its heartbeats come, silent once they stop (the run was killed in it)."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from beating_run import beating_run, wait_for
from conftest import pane_text
from scripted_run import dated, record, scripted_events, until

from cnntui.engine.events import Heartbeat, StateChanged
from cnntui.tui import dashboard
from cnntui.tui.app import Dashboard
from cnntui.tui.sources import FileSource

# An evaluation that takes a minute a batch (a big model on a CPU); the file sys.argv[2] says it
# has begun.
EVALUATING = """
    def slow_evaluation(module, args):
        if not module.training:
            Path(sys.argv[2]).touch()
            time.sleep(60)

    trainer.setup().model.register_forward_pre_hook(slow_evaluation)
    trainer.run()
"""


async def test_a_run_killed_while_evaluating_goes_silent_once_its_heartbeats_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run evaluating wrote nothing until the evaluation ended: watch took a live run that
    evaluated for longer than STALE_AFTER for a killed one."""
    monkeypatch.setattr(dashboard, "STALE_AFTER", 0.5)  # silent 0.2 + 0.5 s after a heartbeat
    run_dir, evaluating = tmp_path / "run", tmp_path / "evaluating"
    with beating_run(run_dir, EVALUATING, str(evaluating)) as run:
        wait_for(run, evaluating.exists, "evaluation")
        app = Dashboard(FileSource(run_dir), watch_path=run_dir, poll_interval=0.05)
        async with app.run_test(size=(100, 24)) as pilot:
            assert await until(pilot, lambda: "RUNNING" in pane_text(app, "#header"))
            await pilot.pause(1.5)  # more than the 0.7 s of quiet that would make it silent
            header = pane_text(app, "#header")
            assert "RUNNING · evaluating the test set" in header and "SILENT" not in header, header
            assert app.state.step == 4  # all its steps trained: it is evaluating
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
            assert await until(pilot, lambda: "SILENT" in pane_text(app, "#header"), timeout=10)
            header = pane_text(app, "#header")
            said = r"\? SILENT while evaluating the test set since \d\d:\d\d \(0:0\d ago\)"
            assert re.search(said, header), header
            assert "RUNNING" not in header


@pytest.mark.parametrize(
    ("width", "said"),
    [
        (80, r"\? SILENT while evaluating the test set since .* \(3:00:0\d ago\)  epoch 1/3"),
        (56, r"\? SILENT while evaluating since .* \(3:00:0\d ago\)"),  # the shorter form
    ],
)
async def test_a_run_killed_while_evaluating_long_ago_says_so(
    tmp_path: Path, width: int, said: str
) -> None:
    """Its silence says the phase it went quiet in, as a pause's does: `? SILENT since` alone
    did not tell a run killed in a long evaluation from one killed while training."""
    events = scripted_events(finish=False, upto_step=100)
    running = StateChanged(state="running", step=100, heartbeat_every=10.0, time=events[-1].time)
    beats = [
        Heartbeat(step=100, phase="evaluating test", time=events[-1].time + seconds)
        for seconds in (1.0, 11.0)
    ]
    last = time.time() - 3 * 3600
    run_dir = record(tmp_path / "run", dated([*events, running, *beats], last))
    app = Dashboard(FileSource(run_dir), watch_path=run_dir, poll_interval=0.05)
    async with app.run_test(size=(width, 24)) as pilot:
        assert await until(pilot, lambda: "SILENT" in pane_text(app, "#header"), timeout=5)
        header = pane_text(app, "#header")
        assert re.search(said, header), header
        assert "RUNNING" not in header and "(0:10)" not in header


@pytest.mark.parametrize(
    ("phase", "said"),
    [
        ("first step", r"\? SILENT in its first step since .* \(3:00:0\d ago\)"),
        ("compiling", r"\? SILENT while compiling the first step since .* \(3:00:0\d ago\)"),
    ],
)
async def test_a_run_killed_in_its_first_step_says_so_in_words(
    tmp_path: Path, phase: str, said: str
) -> None:
    """The phase's name went after `while` as it is: '? SILENT while first step since ...'."""
    events = scripted_events(finish=False, upto_step=0)
    running = StateChanged(state="running", step=0, heartbeat_every=10.0, time=events[-1].time)
    beats = [
        Heartbeat(step=0, phase=phase, time=events[-1].time + seconds) for seconds in (1.0, 11.0)
    ]
    last = time.time() - 3 * 3600
    run_dir = record(tmp_path / "run", dated([*events, running, *beats], last))
    app = Dashboard(FileSource(run_dir), watch_path=run_dir, poll_interval=0.05)
    async with app.run_test(size=(100, 24)) as pilot:
        assert await until(pilot, lambda: "SILENT" in pane_text(app, "#header"), timeout=5)
        header = pane_text(app, "#header")
        assert re.search(said, header), header
