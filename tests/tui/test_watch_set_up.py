"""`cnntui watch` on a run directory whose run is still setting up (its directory made, no event
written yet): shown setting up while the run holds it, and silent once it ended without an event;
it was shown waiting for a run for ever."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from beating_run import beating_run, wait_for
from conftest import pane_text
from scripted_run import scripted_events, until

from cnntui.runlog import RunLogWriter, write_config
from cnntui.tui.app import Dashboard
from cnntui.tui.sources import FileSource

# Set up (the directory made), then stalled before its first event: the training loop's
# building, or the dashboard's opening. sys.argv[2]: the file that says it has got there.
STALLED = """
    trainer.setup()
    Path(sys.argv[2]).touch()
    time.sleep(120)
"""


def watch_app(run_dir: Path) -> Dashboard:
    return Dashboard(FileSource(run_dir), watch_path=run_dir, poll_interval=0.05)


def log(app: Dashboard) -> str:
    return "\n".join(line.text for line in app.state.log)


async def test_a_run_killed_while_setting_up_is_shown_ended_not_awaited(tmp_path: Path) -> None:
    run_dir, set_up = tmp_path / "run", tmp_path / "set-up"
    with beating_run(run_dir, STALLED, str(set_up)) as run:
        wait_for(run, set_up.exists, "the set-up")
        app = watch_app(run_dir)
        async with app.run_test(size=(120, 24)) as pilot:

            def header() -> str:
                return pane_text(app, "#header")

            assert await until(pilot, lambda: "SETTING UP" in header(), timeout=10), header()
            assert f"a run is setting up in {run_dir}…" in header()
            assert re.search(r"◌ SETTING UP  waited 0:0\d", header()), header()
            assert f"a run is setting up in {run_dir}" in log(app)
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
            assert await until(pilot, lambda: "SILENT" in header(), timeout=10), header()
            lines = header().splitlines()
            assert lines[0] == f"cnntui watch the run in {run_dir} ended while setting up"
            assert re.fullmatch(r"\? SILENT since \d\d:\d\d \(0:\d\d ago\)", lines[1]), lines
            assert f"the run in {run_dir} ended while setting up, before its first event" in log(
                app
            )


async def test_a_run_that_sets_up_then_starts_is_shown_as_any_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    writer = RunLogWriter(run_dir)  # what a run's set-up leaves, and holds
    write_config(run_dir, {"model": "lenet"})
    app = watch_app(run_dir)
    try:
        async with app.run_test(size=(120, 24)) as pilot:
            assert await until(pilot, lambda: "SETTING UP" in pane_text(app, "#header"))
            for event in scripted_events(finish=False, upto_step=20):
                writer(event)
            assert await until(pilot, lambda: app.state.step == 20)
            await pilot.pause(0.1)
            header = pane_text(app, "#header")
            assert "RUNNING  epoch 1/3  step 20/300" in header, header
            assert "setting up" not in header.lower() and "SILENT" not in header
    finally:
        writer.close()
