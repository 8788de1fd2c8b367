"""`cnntui watch`: the same dashboard over a recorded events.jsonl, read-only, tailing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import help_keys, log_text, pane_text
from scripted_run import dated, record, scripted_events, until

from cnntui.engine.events import RunFinished
from cnntui.errors import UsageError
from cnntui.runlog import EVENTS_FILE, end_from_summary, event_to_json
from cnntui.tui import dashboard
from cnntui.tui.app import Dashboard, resolve_run_dir
from cnntui.tui.screens import HelpScreen, QuitScreen
from cnntui.tui.sources import FileSource, ListSource
from cnntui.tui.widgets.layers import LayerTable


def watch_app(run_dir: Path) -> Dashboard:
    return Dashboard(FileSource(run_dir), watch_path=run_dir, poll_interval=0.05)


async def test_replay_of_a_finished_run_fills_every_pane(tmp_path: Path) -> None:
    run_dir = record(tmp_path / "run", scripted_events(device="cuda:0"))
    app = watch_app(run_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.status == "finished")
        await pilot.pause(0.05)
        header = pane_text(app, "#header")
        assert "watch" in header and "FINISHED" in header and "step 300/300" in header
        assert app.query_one(LayerTable).row_count == 12
        device = pane_text(app, "#device")
        assert "cuda:0" in device and "1.5 GiB / 80.0 GiB" in device and "util 87%" in device
        assert "process RSS 2.1 GiB · CPU 101%" in device
        assert "gpu1  util 12%  mem 1.0 GiB/80.0 GiB" in device  # the neighbour, not cuda:0
        assert "gpu0" not in device
        assert "finished at step 300" in log_text(app)
        await pilot.press("c")
        assert "Ankle boot" in pane_text(app, "#confusion-table")


async def test_replay_of_an_interrupted_run_says_what_stopped_it(tmp_path: Path) -> None:
    events = scripted_events(finish=False, upto_step=50)
    events.append(
        RunFinished(
            status="interrupted", exit_code=130, step=50, epoch=0, duration=3.0,
            best_accuracy=None, message="SIGTERM", time=events[-1].time + 1,
        )
    )  # fmt: skip
    app = watch_app(record(tmp_path / "run", events))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state.status == "interrupted")
        await pilot.pause(0.05)
        header = pane_text(app, "#header")
        assert "INTERRUPTED" in header and "stopped: SIGTERM" in header
        assert "✖" not in header  # a stop that was asked for is not shown as an error


async def test_control_keys_are_not_offered_but_answered_while_watching(tmp_path: Path) -> None:
    run_dir = record(tmp_path / "run", scripted_events(finish=False, upto_step=50))
    app = watch_app(run_dir)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:  # toasts shown
        await until(pilot, lambda: app.state.step == 50)
        shown = {key for key, active in app.active_bindings.items() if active.binding.show}
        assert not {"p", "s", "e"} & shown  # the run is someone else's
        assert {"c", "l", "q"} <= shown
        for key in ("p", "s", "e"):  # answered, though not offered
            await pilot.press(key)
        # One notice, not three identical ones stacked: each press shows it afresh.
        messages = [n.message for n in app._notifications]
        assert len(messages) == 1 and messages[0].startswith("Read-only")
        await pilot.pause(0.05)
        assert len(app.screen.query("Toast")) == 1
        assert app.state.status == "running"  # nothing was paused
        await pilot.press("q")  # nothing to stop: leaves at once
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_help_while_watching_lists_only_the_keys_that_work(tmp_path: Path) -> None:
    run_dir = record(tmp_path / "run", scripted_events())
    app = watch_app(run_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = help_keys(app)
        assert not {"p", "s", "e"} & keys  # pause, save and evaluate only answer "read-only"
        assert {"c", "l", "?", "q"} <= keys
        assert "Read-only" in pane_text(app.screen, "Static")


async def test_tail_picks_up_new_lines_and_waits_for_a_partial_one(tmp_path: Path) -> None:
    events = scripted_events()
    run_dir = record(tmp_path / "run", events[:5])
    app = watch_app(run_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.step == 30)
        line = event_to_json(events[5])
        with open(run_dir / EVENTS_FILE, "a", encoding="utf-8") as f:
            f.write(line[:20])  # the writer is mid-line
        await pilot.pause(0.2)
        assert app.state.step == 30 and app.state.status == "running"
        with open(run_dir / EVENTS_FILE, "a", encoding="utf-8") as f:
            f.write(line[20:] + "\n")
            for event in events[6:]:
                f.write(event_to_json(event) + "\n")
        assert await until(pilot, lambda: app.state.status == "finished")
        assert len(app.state.loss) == 300


async def test_watching_a_directory_no_run_has_written_to_says_what_it_waits_for(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    app = watch_app(run_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.1)
        header = pane_text(app, "#header")
        assert f"no run has written to {run_dir} yet" in header
        assert f"WAITING  for {run_dir / EVENTS_FILE}" in header
        assert "elapsed" not in header  # no run, no run clock stuck at 0:00
        log = " ".join(log_text(app).split())  # unwrapped
        assert f"no run has written to {run_dir} yet: waiting for {run_dir / EVENTS_FILE}" in log
        # The wait is counted, so the dashboard does not look hung.
        # From the app's start, which a loaded runner can take past 0.5 s: 0:00 or 0:01.
        assert re.search(r"waited 0:0[01]", pane_text(app, "#header"))
        counted = re.compile(r"waited 0:0[1-9]")  # a busy machine may tick past 0:01

        def header_counts() -> bool:
            return counted.search(pane_text(app, "#header")) is not None

        assert await until(pilot, header_counts)
        record(run_dir, scripted_events(finish=False, upto_step=20))
        assert await until(pilot, lambda: app.state.step == 20)
        await pilot.pause(0.05)
        header = pane_text(app, "#header")
        assert "20231114-221320-lenet-fmnist" in header and "no run has written" not in header
        assert "waited" not in header and "RUNNING" in header


async def test_watching_a_run_directory_not_made_yet_waits_for_it(tmp_path: Path) -> None:
    """`cnntui watch DIR` opened before `cnntui run --run-dir DIR` made DIR was refused."""
    run_dir = tmp_path / "run"
    app = watch_app(run_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.1)
        header = pane_text(app, "#header")
        assert f"waiting for {run_dir} to appear…" in header and "WAITING" in header
        assert f"{run_dir} does not exist yet: waiting for it to appear" in unwrapped_log(app)
        assert await until(pilot, lambda: re.search(r"waited 0:0[1-9]", pane_text(app, "#header")))
        run_dir.mkdir()
        assert await until(pilot, lambda: "no run has written" in pane_text(app, "#header"))
        assert f"{run_dir} appeared: waiting for its {EVENTS_FILE}" in unwrapped_log(app)
        record(run_dir, scripted_events(finish=False, upto_step=20))
        assert await until(pilot, lambda: app.state.step == 20)
        await pilot.pause(0.05)
        header = pane_text(app, "#header")
        assert "20231114-221320-lenet-fmnist" in header and "RUNNING" in header
        assert "waiting" not in header and "waited" not in header


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_a_wait_for_a_run_directory_ends_with_q_or_ctrl_c(tmp_path: Path, key: str) -> None:
    app = watch_app(tmp_path / "run")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        await pilot.press(key)  # nothing to stop: no question
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_a_file_where_the_run_directory_was_awaited_is_said(tmp_path: Path) -> None:
    app = watch_app(tmp_path / "run")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.1)
        (tmp_path / "run").write_text("not a run")
        message = f"{tmp_path / 'run'} appeared as a file, not a directory"
        assert await until(pilot, lambda: message in unwrapped_log(app))
        assert app.source._thread.is_alive()  # the tail reads nothing there, and goes on


def unwrapped_log(app: Dashboard) -> str:
    return " ".join(log_text(app).split())


async def test_a_run_that_has_written_is_not_announced_as_awaited(tmp_path: Path) -> None:
    run_dir = record(tmp_path / "run", scripted_events(finish=False, upto_step=20))
    app = watch_app(run_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.step == 20)
        assert "no run has written" not in log_text(app) + pane_text(app, "#header")


def test_resolve_run_dir(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    old = record(runs / "a", scripted_events(finish=False, upto_step=10))
    new = record(runs / "b", scripted_events(finish=False, upto_step=10))
    (old / EVENTS_FILE).touch()
    os.utime(new / EVENTS_FILE, (1e9, 2e9))
    os.utime(old / EVENTS_FILE, (1e9, 1e9))
    assert resolve_run_dir(None, runs) == new
    assert resolve_run_dir(old / EVENTS_FILE) == old
    assert resolve_run_dir(old) == old
    # A run's --run-dir it has not made yet, often: waited for, in a folder that exists.
    assert resolve_run_dir(tmp_path / "soon") == tmp_path / "soon"
    assert resolve_run_dir(tmp_path / "soon" / EVENTS_FILE) == tmp_path / "soon"
    (tmp_path / "empty").mkdir()
    assert resolve_run_dir(tmp_path / "empty" / EVENTS_FILE) == tmp_path / "empty"
    # The first run makes the runs root too.
    assert resolve_run_dir(tmp_path / "new" / "a", tmp_path / "new") == tmp_path / "new" / "a"
    # Nor its folder: a typo, refused rather than waited on for ever. Its events file names
    # the run directory to make, not a directory called events.jsonl; a path with a space is
    # quoted for the shell.
    typo = tmp_path / "rnus" / "my run"
    with pytest.raises(UsageError, match=r"no such directory: .*rnus; .*`mkdir -p .*my run"):
        resolve_run_dir(typo)
    with pytest.raises(UsageError) as refused:
        resolve_run_dir(typo / EVENTS_FILE)
    assert f"`mkdir -p '{typo}'` first" in str(refused.value)
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(UsageError, match="not a run directory"):
        resolve_run_dir(tmp_path / "notes.txt")
    with pytest.raises(UsageError):
        resolve_run_dir(None, tmp_path / "empty")


async def test_a_tailed_run_that_goes_quiet_is_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard, "STALE_AFTER", 0.3)
    events = dated(scripted_events(finish=False, upto_step=50), time.time())
    run_dir = record(tmp_path / "run", events[:-3])
    app = watch_app(run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await until(pilot, lambda: "SILENT since" in pane_text(app, "#header"))
        # A run that may have been killed is not shown running, nor given an ETA.
        header = pane_text(app, "#header")
        assert "RUNNING" not in header and "ETA" not in header
        # Quiet since it was seen last, by this machine's clock: a second or so ago.
        assert re.search(r"SILENT since \d\d:\d\d \(0:0[0-3] ago\)", header), header
        record(run_dir, events[-3:])
        assert await until(pilot, lambda: "SILENT" not in pane_text(app, "#header"))
        assert "RUNNING" in pane_text(app, "#header") and "ETA" in pane_text(app, "#header")


async def test_a_run_killed_long_ago_is_silent_since_its_last_event(tmp_path: Path) -> None:
    """Replayed hours later, a run that was killed (no end in its log, no summary.json) said
    `no events for 0:24`, counting from when watch opened; it says when it went quiet."""
    last = time.time() - (2 * 3600 + 13 * 60 + 5)
    events = dated(scripted_events(finish=False, upto_step=50), last)
    run_dir = record(tmp_path / "run", events)
    app = watch_app(run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await until(pilot, lambda: "SILENT" in pane_text(app, "#header"), timeout=5)
        header = pane_text(app, "#header")
        same_day = time.localtime(last)[:3] == time.localtime()[:3]
        since = time.strftime("%H:%M" if same_day else "%a %H:%M", time.localtime(last))
        assert re.search(rf"\? SILENT since {since} \(2:13:0[5-9] ago\)", header), header
        # At 80 columns the run's position and how long it ran still fit beside it.
        assert "epoch 1/3  step 50/300  elapsed 0:02" in header
        assert "RUNNING" not in header and "ETA" not in header


async def test_a_live_run_whose_clock_is_behind_is_not_silent(tmp_path: Path) -> None:
    """watch on another machine: the writer's clock 45 s behind this one's. What the file held
    when watch opened is not dated by that clock, nor are the events that follow."""
    events = dated(scripted_events(finish=False, upto_step=50), time.time() - 45)
    run_dir = record(tmp_path / "run", events[:-3])
    app = watch_app(run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await until(pilot, lambda: app.state.step == 40)
        await pilot.pause(0.3)
        assert "RUNNING" in pane_text(app, "#header")
        record(run_dir, events[-3:])
        assert await until(pilot, lambda: app.state.step == 50)
        await pilot.pause(0.3)
        assert "RUNNING" in pane_text(app, "#header")


def write_summary(run_dir: Path, seconds_after_the_log: float, **fields) -> None:
    """summary.json as a run writes it at its end, dated relative to events.jsonl."""
    summary = run_dir / "summary.json"
    summary.write_text(json.dumps({"exit_code": 1, "steps": 50, "message": "", **fields}))
    logged = (run_dir / EVENTS_FILE).stat().st_mtime
    os.utime(summary, (logged + seconds_after_the_log, logged + seconds_after_the_log))


async def test_a_run_whose_log_stopped_short_ends_as_its_summary_says(tmp_path: Path) -> None:
    """A full disk stopped events.jsonl before the run's end; the run still wrote summary.json.
    Tailed, the run looked silent for ever."""
    run_dir = record(tmp_path / "run", scripted_events(finish=False, upto_step=50))
    os.utime(run_dir / EVENTS_FILE, (time.time() - 60, time.time() - 60))
    error = "no space left on device writing runs/x/events.jsonl"
    write_summary(run_dir, 5, status="failed", message=error)
    app = watch_app(run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state.status == "failed")
        await pilot.pause(0.05)
        assert "FAILED" in pane_text(app, "#header")
        assert error in log_text(app) and "read from summary.json" in log_text(app)


def test_a_summary_is_the_end_only_when_written_after_the_last_event(tmp_path: Path) -> None:
    run_dir = record(tmp_path / "run", scripted_events(finish=False, upto_step=50))
    logged = (run_dir / EVENTS_FILE).stat().st_mtime
    # A resumed run's directory: the summary of the process before, older than the events.
    write_summary(run_dir, -10, status="interrupted", exit_code=130, message="SIGTERM")
    assert end_from_summary(run_dir, now=logged + 60) is None
    # Written after the last event: the run's end, once it has stood for a moment (the run
    # writes its last event just after its summary).
    write_summary(run_dir, 1, status="interrupted", exit_code=130, message="SIGTERM")
    assert end_from_summary(run_dir, now=logged + 1.5) is None
    end = end_from_summary(run_dir, now=logged + 60)
    assert isinstance(end, RunFinished)
    assert (end.status, end.exit_code, end.step, end.message) == ("interrupted", 130, 50, "SIGTERM")
    write_summary(run_dir, 1, status="running?")  # not a status a run ends with
    assert end_from_summary(run_dir, now=logged + 60) is None


def test_file_source_hands_over_a_long_file_in_batches(tmp_path: Path) -> None:
    events = scripted_events()
    run_dir = record(tmp_path / "run", events)
    source = FileSource(run_dir, interval=0.01, max_batch=10)
    batches = []
    deadline = time.monotonic() + 5
    while sum(map(len, batches)) < len(events) and time.monotonic() < deadline:
        batch = source.drain()
        if batch:
            batches.append(batch)
        time.sleep(0.005)
    source.close()
    assert max(map(len, batches)) <= 10
    assert [e.kind for b in batches for e in b] == [e.kind for e in events]
    assert source.caught_up


def test_a_directory_with_other_things_and_no_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(UsageError, match=r"holds no events\.jsonl"):
        resolve_run_dir(tmp_path)
    empty = tmp_path / "about-to-start"
    empty.mkdir()
    assert resolve_run_dir(empty) == empty  # a run that has not written anything yet


def test_watch_into_a_pipe_says_it_needs_a_terminal(tmp_path: Path) -> None:
    run_dir = record(tmp_path / "run", scripted_events())
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "watch", str(run_dir)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "needs a terminal" in out.stderr and "events.jsonl" in out.stderr
    assert "\x1b" not in out.stdout + out.stderr


async def test_the_launchers_dashboard_asks_before_q_stops_the_ranks() -> None:
    """`cnntui run --nproc` shows the ranks' run read-only, and leaving it stops them
    (launch.py). It was a plain `watch`: one q stopped every rank without a question, under a
    help that said "a run still writing goes on: watch only reads it"."""
    events = scripted_events(finish=False, upto_step=100)
    app = Dashboard(ListSource(events), launcher=True, poll_interval=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.step == 100)
        await pilot.press("p")
        messages = [n.message for n in app._notifications]
        assert any("data-parallel run (--nproc)" in m for m in messages), messages
        await pilot.press("question_mark")
        text = pane_text(app.screen, "Static")
        assert "stops every rank" in text and "watch only reads it" not in text
        await pilot.press("escape", "q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n")
        assert app.is_running and not isinstance(app.screen, QuitScreen)
        await pilot.press("q", "y")
        assert await until(pilot, lambda: not app.is_running)


async def test_the_launchers_dashboard_leaves_at_once_once_the_run_ended() -> None:
    app = Dashboard(ListSource(scripted_events()), launcher=True, poll_interval=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.finished is not None)
        await pilot.press("q")
        assert await until(pilot, lambda: not app.is_running)


async def test_the_launchers_dashboard_says_its_own_ranks_are_setting_up(tmp_path: Path) -> None:
    """`run --nproc` on a terminal opened on "cnntui watch no run has written to DIR yet", and
    its log told the user that `cnntui run … --run-dir DIR` writes it: the command just typed."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    app = Dashboard(FileSource(run_dir), watch_path=run_dir, launcher=True, poll_interval=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.1)
        header = pane_text(app, "#header")
        assert f"cnntui setting up the run in {run_dir}…" in header
        assert "watch" not in header.split("\n")[0] and "no run has written" not in header
        assert re.search(r"WAITING  for .* waited 0:0[01]", header)  # the wait is still counted
        log = " ".join(log_text(app).split())
        assert f"the ranks are setting up; rank 0 writes {run_dir / EVENTS_FILE}" in log
        assert "--run-dir" not in log
        record(run_dir, scripted_events(finish=False, upto_step=20))
        assert await until(pilot, lambda: app.state.step == 20)
        await pilot.pause(0.05)
        header = pane_text(app, "#header")
        assert "20231114-221320-lenet-fmnist" in header and "watch" not in header


def test_a_runs_root_given_as_the_run_is_refused_with_its_newest_run(tmp_path: Path) -> None:
    """`cnntui watch runs/` names the folder of the runs: the refusal says how to open one."""
    old, new = record(tmp_path / "runs" / "a", scripted_events()), tmp_path / "runs" / "b"
    record(new, scripted_events())
    os.utime(old / EVENTS_FILE, (1, 1))
    with pytest.raises(UsageError) as refused:
        resolve_run_dir(tmp_path / "runs")
    assert str(refused.value) == (
        f"not a run directory: {tmp_path / 'runs'} holds runs, not one; watch the newest with "
        f"`cnntui watch {new}` or `cnntui watch --runs-root {tmp_path / 'runs'}`"
    )


def test_watch_with_no_run_dir_says_when_its_runs_root_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cnntui watch` from another folder than the runs': runs/ is not there at all."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as refused:
        resolve_run_dir(None, Path("runs"))
    assert str(refused.value) == (
        f"no runs to watch: runs/ does not exist in {tmp_path}; pass RUN_DIR, "
        "or --runs-root for the folder the runs are in"
    )
    (tmp_path / "runs").mkdir()
    with pytest.raises(UsageError, match=r"^no runs with an events\.jsonl under runs/"):
        resolve_run_dir(None, Path("runs"))
