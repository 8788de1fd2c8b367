"""`cnntui watch` on a run paused from its own dashboard: live while its heartbeats come, silent
once they stop (the run was killed while paused), paused for ever in a log from before them."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from beating_run import beating_run, wait_for
from conftest import pane_text
from scripted_run import dated, record, scripted_events, until

from cnntui.engine.events import Event, Heartbeat, StateChanged
from cnntui.runlog import EVENTS_FILE, read_events
from cnntui.tui import dashboard
from cnntui.tui.app import Dashboard
from cnntui.tui.sources import FileSource

# Paused after its first step until the test kills it.
PAUSED = """
    trainer.pause()
    trainer.run()
"""


def is_heartbeat(event: Event) -> bool:
    return isinstance(event, Heartbeat)


def watch_app(run_dir: Path) -> Dashboard:
    return Dashboard(FileSource(run_dir), watch_path=run_dir, poll_interval=0.05)


async def test_a_run_killed_while_paused_goes_silent_once_its_heartbeats_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILLed while paused, a run was shown PAUSED for ever: a paused run's quiet was never
    taken for silence (8371aec), since it wrote nothing until it resumed."""
    monkeypatch.setattr(dashboard, "STALE_AFTER", 0.5)  # silent 0.2 + 0.5 s after a heartbeat
    run_dir = tmp_path / "run"
    events = run_dir / EVENTS_FILE
    with beating_run(run_dir, PAUSED) as run:
        wait_for(run, lambda: any(map(is_heartbeat, read_events(events))), "a heartbeat")
        app = watch_app(run_dir)
        async with app.run_test(size=(100, 24)) as pilot:
            assert await until(pilot, lambda: "PAUSED" in pane_text(app, "#header"))
            await pilot.pause(1.5)  # more than the 0.7 s of quiet that would make it silent
            header = pane_text(app, "#header")
            assert "PAUSED" in header and "SILENT" not in header, header
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
            assert await until(pilot, lambda: "SILENT" in pane_text(app, "#header"), timeout=10)
            header = pane_text(app, "#header")
            assert re.search(r"\? SILENT while paused since \d\d:\d\d \(0:0\d ago\)", header), (
                header
            )
            assert "PAUSED" not in header


async def test_a_run_killed_while_paused_long_ago_is_silent_at_once(tmp_path: Path) -> None:
    last = time.time() - 3 * 3600
    events = scripted_events(finish=False, upto_step=50)
    paused = StateChanged(state="paused", step=50, heartbeat_every=30.0, time=events[-1].time)
    beats = [Heartbeat(step=50, time=events[-1].time + 30.0 * n) for n in (1, 2)]
    run_dir = record(tmp_path / "run", dated([*events, paused, *beats], last))
    app = watch_app(run_dir)
    async with app.run_test(size=(100, 24)) as pilot:
        assert await until(pilot, lambda: "SILENT" in pane_text(app, "#header"), timeout=5)
        header = pane_text(app, "#header")
        assert re.search(r"\? SILENT while paused since .* \(3:00:0\d ago\)", header), header
        assert "epoch 1/3  step 50/300" in header  # where it paused


async def test_a_paused_run_logged_before_heartbeats_is_shown_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its paused event promised no heartbeat: its quiet says only that it paused (8371aec),
    however long ago, as in the cnntui that wrote it."""
    monkeypatch.setattr(dashboard, "STALE_AFTER", 0.3)
    events = scripted_events(finish=False, upto_step=50)
    paused = StateChanged(state="paused", step=50, time=events[-1].time)
    run_dir = record(tmp_path / "run", dated([*events, paused], time.time() - 3 * 3600))
    app = watch_app(run_dir)
    async with app.run_test(size=(100, 24)) as pilot:
        assert await until(pilot, lambda: "PAUSED" in pane_text(app, "#header"))
        await pilot.pause(1.0)
        header = pane_text(app, "#header")
        assert "PAUSED" in header and "SILENT" not in header, header
