"""A run whose stdout goes away (`--json | head -1`, an SSH session that drops) stops cleanly:
last.pt and summary.json written, exit 130, no traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from cnntui.engine.events import RunFinished
from cnntui.headless import JsonReporter, PlainReporter

SYNTHETIC = "synthetic:1x28x28:10:train=1024:test=256"
# Long enough that the run is still going when its reader leaves, however loaded the machine.
RUN = ["run", "lenet", "--dataset", SYNTHETIC, "--epochs", "50", "-b", "16"]


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def finished() -> RunFinished:
    return RunFinished(status="finished", exit_code=0, step=1, epoch=1, duration=1.0)


def test_reporters_tell_the_run_once_when_the_reader_has_gone() -> None:
    for make in (JsonReporter, lambda out, gone: PlainReporter(out, on_reader_gone=gone)):
        calls: list[int] = []
        reporter = make(ClosedPipe(), lambda error, calls=calls: calls.append(error.errno))
        reporter(finished())  # raised BrokenPipeError into the training loop before
        reporter(finished())
        assert calls == [32]  # told once, with the error: EPIPE


def assert_stopped_cleanly(
    run_dir, code: int, stderr: str, causes: tuple[str, ...] = ("stdout closed",)
) -> None:
    assert code == 130, stderr
    assert "Traceback" not in stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["exit_code"] == 130
    assert summary["message"] in causes
    assert (run_dir / "last.pt").is_file()
    last = (run_dir / "events.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["event"] == "finished"


def test_json_into_a_reader_that_leaves_after_one_line(tmp_path) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnntui", *RUN, "--json", "--run-dir", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Bounded: a run that hangs before its first line is killed, which ends the read at EOF.
    watchdog = threading.Timer(300, proc.kill)
    watchdog.start()
    try:
        line = proc.stdout.readline()
        assert line, "the run ended, or hung for 300 s, before its first line"
        assert json.loads(line)["event"] == "run_started"
        proc.stdout.close()  # as `| head -1` does
        _, stderr = proc.communicate(timeout=300)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert_stopped_cleanly(run_dir, proc.returncode, stderr)
    assert "stdout can no longer be written" in stderr


def test_a_terminal_that_hangs_up_under_a_headless_run(tmp_path) -> None:
    """SSH drops: the terminal goes and SIGHUP comes. Writing the signal's message to the dead
    terminal raised EIO inside the training loop: exit 1, with neither last.pt nor summary."""
    run_dir = tmp_path / "run"
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnntui", *RUN, "--headless", "--run-dir", str(run_dir)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    events = run_dir / "events.jsonl"
    deadline = time.monotonic() + 300
    while not (events.is_file() and b'"event":"step"' in events.read_bytes()):
        assert time.monotonic() < deadline and proc.poll() is None
        if select.select([leader], [], [], 0.05)[0]:
            os.read(leader, 65536)  # keep the terminal drained, as a live one is
    os.close(leader)  # the terminal is gone ...
    proc.send_signal(signal.SIGHUP)  # ... and says so
    code = proc.wait(timeout=300)
    # Whichever the run noticed first: a write to the dead terminal failing, or the signal.
    assert_stopped_cleanly(run_dir, code, "", causes=("stdout closed", "SIGHUP"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("mode", ["--headless", "--json"])
def test_a_stdout_on_a_full_disk_fails_the_run_and_says_why(tmp_path, mode: str) -> None:
    """`--headless > run.log` on a full disk (/dev/full: every write is ENOSPC). That is no
    reader leaving, and the run must not report "stdout closed" and exit 130 as if it were:
    it stops the same way, saving last.pt, and fails with the reason."""
    run_dir = tmp_path / "run"
    with open("/dev/full", "w") as full:
        out = subprocess.run(
            [sys.executable, "-m", "cnntui", *RUN, mode, "--run-dir", str(run_dir)],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=300,
        )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert "cnntui: error: no space left on device writing stdout" in out.stderr
    assert "reader exited" not in out.stderr and "Traceback" not in out.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["exit_code"]) == ("failed", 1)
    assert summary["message"] == "no space left on device writing stdout"
    assert (run_dir / "last.pt").is_file()


@pytest.mark.parametrize("argv", [["models"], ["--help"], ["models", "--json"]])
def test_a_listing_into_a_reader_that_left_exits_0(argv) -> None:
    """`cnntui models | head -1` under `set -o pipefail`: rich exited 1 on the closed pipe."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnntui", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader left before a line was written
    try:
        _, raw = proc.communicate(timeout=120)  # bounded, unlike a read to EOF
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = raw.decode()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("argv", [["models"], ["shapes", "lenet", "--json"], ["--help"]])
def test_a_listing_onto_a_full_disk_says_so_in_one_line(argv) -> None:
    """`cnntui shapes lenet > out.txt` on a full disk: a traceback ending in OSError; now the
    line `run` says for its stdout, word for word."""
    with open("/dev/full", "w") as full:
        out = subprocess.run(
            [sys.executable, "-m", "cnntui", *argv],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=300,
        )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr == "cnntui: error: no space left on device writing stdout\n"


def test_a_full_disk_elsewhere_names_that_file_and_leaves_stdout_alone(monkeypatch, capsys):
    """An OSError that names its file is not stdout's: the line names that file, and stdout,
    which still works, is not pointed at /dev/null."""
    import errno

    from cnntui import cli, reader_gone

    def fails(**_):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/mnt/full/out.json")

    silenced = []
    monkeypatch.setattr(cli, "app", fails)
    monkeypatch.setattr(reader_gone, "silence", silenced.append)
    monkeypatch.setattr(sys, "argv", ["cnntui", "models"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 1
    assert capsys.readouterr().err == (
        "cnntui: error: no space left on device writing /mnt/full/out.json\n"
    )
    assert silenced == []


@pytest.mark.parametrize("mode", [[], ["--headless"], ["--json"]])
def test_a_run_started_with_stdout_closed_trains_and_says_nothing(tmp_path, mode) -> None:
    """`cnntui run ... >&-` (a cron line, a daemon's launcher): Python has None for sys.stdout,
    and the first isatty() or write failed the run with a traceback before it trained."""
    run_dir = tmp_path / "run"
    argv = [*RUN, "--max-steps", "3", *mode, "--run-dir", str(run_dir)]
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", *argv],
        stderr=subprocess.PIPE, text=True, timeout=300, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["steps"]) == ("finished", 3)


def test_a_run_started_with_stdin_closed_at_a_terminal_trains_headless(tmp_path) -> None:
    """`cnntui run ... <&-` at a terminal: Python has None for sys.stdin, and the check for a
    dashboard (stdout and stdin terminals) failed the run with a traceback before it trained.
    A closed stdin is no terminal: the run goes headless."""
    run_dir = tmp_path / "run"
    leader, follower = pty.openpty()
    argv = [*RUN, "--max-steps", "3", "--run-dir", str(run_dir)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnntui", *argv],
        stdout=follower, stderr=follower, preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 300
    while proc.poll() is None:
        assert time.monotonic() < deadline, shown.decode(errors="replace")
        if select.select([leader], [], [], 0.05)[0]:
            with contextlib.suppress(OSError):  # EIO once the run has closed its end
                shown += os.read(leader, 65536)
    os.close(leader)
    assert proc.returncode == 0, shown.decode(errors="replace")
    assert b"Traceback" not in shown
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["steps"]) == ("finished", 3)
