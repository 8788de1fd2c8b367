"""The real `cnntui run` and `cnntui watch` in a real terminal: tmux draws, we read the screen.

Each test owns a private tmux server (`-L`), so it never touches anyone else's sessions.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tmux_terminal import STARTUP_TIMEOUT, Terminal, cnntui

# CI installs tmux (.ci/run): there a missing tmux is a failure, not a reason to skip.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("tmux") is None and os.environ.get("CI", "").lower() != "true",
        reason="needs tmux (apt-get install tmux)",
    ),
]


@pytest.fixture
def terminal(tmp_path: Path):
    term = Terminal(tmp_path)
    yield term
    term.close()


def only_run_dir(root: Path) -> Path:
    runs = [p for p in (root / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_live_run_pause_confusion_and_quit(terminal: Terminal, tmp_path: Path) -> None:
    # Far more epochs than the test lasts: it ends the run itself (q, y). With a few, a fast
    # machine could finish them before p arrived, and no PAUSED or quit prompt would come.
    terminal.start(cnntui("run", "lenet", "--dataset", "synthetic", "--epochs", "10000"))
    terminal.wait_for("RUNNING", timeout=STARTUP_TIMEOUT)
    terminal.press("p")
    screen = terminal.wait_for("PAUSED", "paused at step")
    for pane in ("Loss", "Accuracy %", "Layers", "Device", "Throughput", "Log"):
        assert pane in screen
    assert "Conv2d" in screen and "6×28×28" in screen  # the shape report's rows
    assert "model lenet" in screen and "data synthetic" in screen
    terminal.press("c")
    terminal.wait_for("Confusion matrix")
    terminal.press("q")
    terminal.wait_for("Stop training and quit?")
    terminal.press("y")
    assert terminal.exit_code() == 130
    run_dir = only_run_dir(tmp_path)
    assert (run_dir / "last.pt").exists()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    # Back on the normal screen, the run's end and where it is, not only the set-up line.
    screen = terminal.screen()
    assert "cnntui: interrupted after" in screen
    assert f"run directory: runs/{run_dir.name}" in screen.replace("\n", "")


def test_live_run_stays_open_when_done_until_q(terminal: Terminal, tmp_path: Path) -> None:
    terminal.start(cnntui("run", "lenet", "--dataset", "synthetic", "--epochs", "1"))
    screen = terminal.wait_for("FINISHED", "finished at step", timeout=STARTUP_TIMEOUT + 60)
    assert "step 16/16" in screen
    time.sleep(1.0)
    assert "FINISHED" in terminal.screen()  # still there: the app waits for q
    terminal.press("q")
    assert terminal.exit_code() == 0
    assert (only_run_dir(tmp_path) / "last.pt").exists()
    # Back on the normal screen: the line that stood there while torch and the data loaded,
    # then how the run ended.
    screen = terminal.screen()
    assert "cnntui: setting up lenet…" in screen
    assert "cnntui: finished after 16 steps" in screen


def test_keys_typed_while_setting_up_do_not_garble_the_last_line(
    terminal: Terminal, tmp_path: Path
) -> None:
    """Keys pressed before the dashboard opens are echoed after the `setting up` line, where
    the cursor is again once the dashboard closes: the outcome read "zzcnntui: interrupted…"."""
    terminal.start(cnntui("run", "lenet", "--dataset", "synthetic", "--epochs", "10000"))
    terminal.wait_for("cnntui: setting up lenet…", timeout=STARTUP_TIMEOUT)
    terminal.press("z", "z")  # no key of the dashboard's: only the echo is left of them
    terminal.wait_for("RUNNING", timeout=STARTUP_TIMEOUT)
    terminal.press("q")
    terminal.wait_for("Stop training and quit?")
    terminal.press("y")
    assert terminal.exit_code() == 130
    lines = terminal.screen().splitlines()
    assert any(line.startswith("cnntui: interrupted after") for line in lines), lines


def test_keys_typed_while_setting_up_do_not_act_on_the_dashboard(
    terminal: Terminal, tmp_path: Path
) -> None:
    """A key pressed during the seconds of set-up had nothing to act on yet; read once the
    dashboard opened, a `p` started the run paused (and a `q` opened with the quit dialog)."""
    terminal.start(cnntui("run", "lenet", "--dataset", "synthetic", "--epochs", "10000"))
    terminal.wait_for("cnntui: setting up lenet…", timeout=STARTUP_TIMEOUT)
    terminal.press("p")
    terminal.wait_for("RUNNING", timeout=STARTUP_TIMEOUT)
    time.sleep(2.0)  # the dashboard has read its input long since; a late `p` would show here
    screen = terminal.screen()
    assert "RUNNING" in screen and "PAUSED" not in screen, screen
    terminal.press("q")
    terminal.wait_for("Stop training and quit?")
    terminal.press("y")
    assert terminal.exit_code() == 130


def test_a_data_parallel_run_under_the_dashboard_closes_when_asked(
    terminal: Terminal, tmp_path: Path
) -> None:
    """`--exit-on-finish` with `--nproc`: the dashboard over the launcher closed only on q.
    The launcher's log is written into --run-dir before rank 0 checks the directory is new."""
    run_dir = tmp_path / "ddp"
    terminal.start(
        cnntui(
            "run", "lenet", "--dataset", "synthetic:1x28x28:10:train=512:test=128",
            "--epochs", "1", "--device", "cpu", "--nproc", "2", "--exit-on-finish",
            "--run-dir", str(run_dir),
        )
    )  # fmt: skip
    assert terminal.exit_code(timeout=STARTUP_TIMEOUT + 60) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 2
    # The terminal keeps how the run ended and where, as a single process's dashboard leaves it.
    assert "cnntui: finished after 2 steps" in terminal.screen()


def test_q_in_a_data_parallel_runs_dashboard_asks_before_stopping_the_ranks(
    terminal: Terminal, tmp_path: Path
) -> None:
    """Leaving the launcher's dashboard stops every rank: one q did so without a question."""
    run_dir = tmp_path / "ddp"
    terminal.start(
        cnntui(
            "run", "lenet", "--dataset", "synthetic", "--epochs", "10000", "--device", "cpu",
            "--nproc", "2", "--run-dir", str(run_dir),
        )
    )  # fmt: skip
    terminal.wait_for("RUNNING", timeout=STARTUP_TIMEOUT + 60)
    terminal.press("q")
    terminal.wait_for("Stop training and quit?")
    terminal.press("n")
    time.sleep(1.0)
    assert "RUNNING" in terminal.screen() and not (run_dir / "summary.json").exists()
    terminal.press("q")
    terminal.wait_for("Stop training and quit?")
    terminal.press("y")
    assert terminal.exit_code(timeout=STARTUP_TIMEOUT) == 130
    summary = json.loads((run_dir / "summary.json").read_text())
    # What stopped it, in a single process's words; the ranks were told "SIGINT".
    assert (summary["status"], summary["message"]) == ("interrupted", "quit from the dashboard")
    assert f"run directory: {run_dir}" in terminal.screen().replace("\n", "")


def test_a_sigint_to_a_data_parallel_runs_dashboard_is_no_quit_from_it(
    terminal: Terminal, tmp_path: Path
) -> None:
    """`kill -INT` of the launcher's dashboard stops every rank as a single process's SIGINT
    does: the ranks' summary called it "quit from the dashboard", as for a `q`."""
    run_dir, pid_file = tmp_path / "ddp", tmp_path / "pid"
    run = cnntui(
        "run", "lenet", "--dataset", "synthetic", "--epochs", "10000", "--device", "cpu",
        "--nproc", "2", "--run-dir", str(run_dir),
    )  # fmt: skip
    terminal.start(["sh", "-c", f"echo $$ > {pid_file}; exec {' '.join(run)}"])
    terminal.wait_for("RUNNING", timeout=STARTUP_TIMEOUT + 60)
    os.kill(int(pid_file.read_text()), signal.SIGINT)
    assert terminal.exit_code(timeout=STARTUP_TIMEOUT) == 130
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["message"]) == ("interrupted", "SIGINT")
    assert (run_dir / "last.pt").exists()


def test_ctrl_c_while_setting_up_leaves_no_run_behind(terminal: Terminal, tmp_path: Path) -> None:
    terminal.start(cnntui("run", "lenet", "--dataset", "synthetic", "--epochs", "1"))
    terminal.wait_for("cnntui: setting up lenet…", timeout=STARTUP_TIMEOUT)
    terminal.press("C-c")
    assert terminal.exit_code() == 130
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # nothing `watch` would open and wait on
    assert "Traceback" not in terminal.screen()


def test_watch_newest_run_read_only_in_16_colours_without_colour(
    terminal: Terminal, tmp_path: Path, recorded_runs: Path
) -> None:
    shutil.copytree(recorded_runs, tmp_path / "runs")
    terminal.start(cnntui("watch"), env={"TERM": "xterm", "NO_COLOR": "1"})
    screen = terminal.wait_for("watch", "FINISHED", "finished at step", timeout=STARTUP_TIMEOUT)
    assert only_run_dir(tmp_path).name in screen
    terminal.press("p")
    terminal.wait_for("Read-only")
    terminal.press("q")
    assert terminal.exit_code() == 0


def test_hangup_stops_the_run_cleanly(terminal: Terminal, tmp_path: Path) -> None:
    """The SSH session drops: tmux's server dies, the app gets SIGHUP, the trainer saves."""
    pid_file = tmp_path / "pid"
    # Far more epochs than the test lasts, so that the run is still going when the hang-up comes.
    run = " ".join(cnntui("run", "lenet", "--dataset", "synthetic", "--epochs", "10000"))
    terminal.start(["sh", "-c", f"echo $$ > {pid_file}; exec {run}"])
    terminal.wait_for("RUNNING", timeout=STARTUP_TIMEOUT)
    pid = int(pid_file.read_text())
    terminal.close()  # kills the server: the pane's process gets SIGHUP
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    assert not _alive(pid), "the app did not exit after SIGHUP"
    run_dir = only_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["message"]) == ("interrupted", "SIGHUP")
    assert (run_dir / "last.pt").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose; tmux (its parent) is dead, so init reaps it soon.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def test_watch_waits_for_the_run_directory_to_appear(terminal: Terminal, tmp_path: Path) -> None:
    """Opened before `cnntui run --run-dir DIR` made DIR (and runs/), watch was refused."""
    terminal.start(cnntui("watch", "runs/soon"))
    terminal.wait_for("waiting for runs/soon to appear…", "waited", timeout=STARTUP_TIMEOUT)
    run = subprocess.run(
        [*cnntui("run", "lenet", "--dataset", "synthetic", "--epochs", "1", "--headless"),
         "--run-dir", "runs/soon"],
        cwd=tmp_path, capture_output=True, text=True, timeout=150,
        env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    terminal.wait_for("FINISHED", "finished at step", timeout=60)
    terminal.press("q")
    assert terminal.exit_code() == 0


def test_ctrl_c_ends_the_wait(terminal: Terminal) -> None:
    terminal.start(cnntui("watch", "runs-not-yet"))
    terminal.wait_for("waiting for runs-not-yet to appear…", timeout=STARTUP_TIMEOUT)
    terminal.press("C-c")
    assert terminal.exit_code() == 0
    assert "Traceback" not in terminal.screen()


def test_a_path_whose_folder_is_missing_too_is_refused(terminal: Terminal) -> None:
    """A typo must not hang: no run would ever appear there."""
    terminal.start(cnntui("watch", "rnus/20261124-lenet"))
    screen = terminal.wait_for("no such directory: rnus;", timeout=STARTUP_TIMEOUT)
    assert "`mkdir -p rnus/20261124-lenet` first" in "".join(screen.splitlines())  # wrapped
    assert terminal.exit_code() == 2
