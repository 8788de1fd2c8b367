"""A headless run that fails says why once where its user reads it: the reporter's line on
stdout, and `cnntui: error: ...` on stderr only where stdout does not reach that reader
(`--headless > log.txt`, `--json`), through the real command."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import resource
import select
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

SYNTHETIC = "synthetic:1x28x28:10:train=1024:test=64"
# run_started (about 5.5 KB) fits in events.jsonl; the step events of the first batches fill
# the rest, and the run fails on a run directory with no room left.
LIMIT = 8_000


def command(run_dir: Path, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "cnntui", "run", "lenet", "--epochs", "1", "-b", "16"),
        *("--dataset", SYNTHETIC, "--set", "log_interval=1e-9", "--run-dir", str(run_dir)),
        *extra,
    ]


def limit_file_size() -> None:
    """Writes past LIMIT bytes fail with EFBIG (its SIGXFSZ, which kills, is ignored)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def failure_of(run_dir: Path) -> str:
    """The run's message, as summary.json holds it: a run log with no room left."""
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed", summary
    assert summary["message"].startswith(f"file too large writing {run_dir / 'events.jsonl'}")
    return summary["message"]


def test_headless_on_one_terminal_says_the_failure_once(tmp_path) -> None:
    """`cnntui run lenet --headless` in a terminal: the reporter's `failed at step N: ...`
    line was followed by `cnntui: error: ...`, the same message a second time."""
    run_dir = tmp_path / "run"
    leader, follower = pty.openpty()
    # Wide enough that the message is not wrapped over lines.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
    proc = subprocess.Popen(
        command(run_dir, "--headless"),
        stdin=follower, stdout=follower, stderr=follower,
        preexec_fn=limit_file_size, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        while True:  # read the terminal until the run closes it
            if select.select([leader], [], [], 300)[0] == []:
                raise AssertionError(f"no output for 300 s: {seen[-2000:]!r}")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
        code = proc.wait(timeout=300)
    assert code == 1, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    message = failure_of(run_dir)
    assert text.count(message) == 1, text
    assert "failed at step" in text


def test_headless_into_one_pipe_says_the_failure_once(tmp_path) -> None:
    """`cnntui run --headless > log.txt 2>&1`: one file for both, one line for the failure."""
    run_dir = tmp_path / "run"
    out = subprocess.run(
        command(run_dir, "--headless"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
        preexec_fn=limit_file_size,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout
    message = failure_of(run_dir)
    [line] = [line for line in out.stdout.splitlines() if message in line]
    assert line.startswith("failed at step ") and line.endswith(f": {message}")


def test_headless_lines_redirected_leave_the_failure_on_stderr(tmp_path) -> None:
    """`cnntui run --headless > log.txt`: the lines say it for a script, stderr for the
    terminal, each once."""
    run_dir = tmp_path / "run"
    out = subprocess.run(
        command(run_dir, "--headless"),
        capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    message = failure_of(run_dir)
    assert out.stderr.splitlines() == [f"cnntui: error: {message}"]
    assert out.stdout.rstrip().splitlines()[-1].endswith(f": {message}")
    assert out.stdout.count(message) == 1


def test_a_redirected_headless_run_that_diverges_says_so_on_stderr_as_json_does(
    tmp_path,
) -> None:
    """Only a failure to write a file reached stderr: `--headless > log.txt` on a run that
    diverged left the terminal silent, where `--json > events.jsonl` said why."""
    out = subprocess.run(
        [
            *(sys.executable, "-m", "cnntui", "run", "lenet", "--dataset", SYNTHETIC),
            *("-o", "activation=relu", "--lr", "1e10", "--epochs", "1", "--headless"),
            *("--run-dir", str(tmp_path / "run")),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    [said] = out.stderr.splitlines()
    assert said.startswith("cnntui: diverged: loss became "), out.stderr
    assert out.stdout.rstrip().splitlines()[-1].endswith(said.removeprefix("cnntui: diverged"))
