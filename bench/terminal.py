"""Run a command in a real terminal (a pseudo-terminal of a given size) and read what it draws.

This is what an SSH session gives the dashboard: a tty that takes every byte it writes. Unlike
tmux, it needs nothing installed, so the same benchmark runs on a bare GPU machine. Everything the
app writes is read and thrown away as fast as it comes, as a terminal would consume it.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
from collections.abc import Callable


def run_in_terminal(
    argv: list[str],
    columns: int = 160,
    lines: int = 48,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Run `argv` with a `columns` x `lines` terminal as stdin, stdout and stderr.

    `on_start` is called with the program's pid once it runs. Returns (exit code, bytes the
    program wrote to the terminal).
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    child_env = {k: v for k, v in (env or os.environ).items() if k not in ("COLUMNS", "LINES")}
    child_env.setdefault("TERM", "xterm-256color")
    process = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=child_env, start_new_session=True
    )
    os.close(slave)
    if on_start is not None:
        on_start(process.pid)
    written = 0
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:  # EIO: the program closed its end (it exited)
                    break
                if not chunk:
                    break
                written += len(chunk)
            elif process.poll() is not None:
                break
    finally:
        os.close(master)
    return process.wait(), written


def run_dashboard(
    argv: list[str],
    columns: int = 160,
    lines: int = 48,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> None:
    """Run a `cnntui run ... --exit-on-finish` in a terminal; fail unless it drew and exited 0."""
    code, written = run_in_terminal(argv, columns, lines, env, on_start)
    if code != 0 or written < 10_000:
        raise SystemExit(f"{' '.join(argv[2:])} exited {code} after drawing {written} bytes")
