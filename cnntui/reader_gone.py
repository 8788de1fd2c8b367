"""Writing to a stdout whose reader may leave: `cnntui run --json | head -1`, or an SSH session
that drops while a headless run prints to its terminal.

The next write then raises (BrokenPipeError for a pipe, EIO for a hung-up terminal). Raised on
the training thread, it used to fail the run: exit 1, and neither last.pt nor summary.json. A
reporter catches it here instead, stops writing, and tells the run, which stops as it does on
Ctrl-C: last.pt and summary.json are written and the exit code is 130. The other commands
exit 0 when their reader leaves (`cnntui models | head -1`), as `head` itself would.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import sys
from collections.abc import Callable
from typing import IO, TextIO

# Errors that mean stdout's file is full, not that its reader left: `--headless > run.log` on a
# full disk. The run fails for them (exit 1) instead of stopping as if interrupted.
DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})

OnGone = Callable[[OSError | None], None]  # told the error a write failed with, if any


class LineWriter:
    """Writes and flushes text until the reader goes; then calls `on_gone` once, with the
    error the write failed with, and drops the rest."""

    def __init__(self, stream: IO[str], on_gone: OnGone | None = None) -> None:
        self.stream = stream
        self.on_gone = on_gone
        self.gone = False

    def write(self, text: str) -> None:
        if self.gone:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError as exc:
            self.lose(exc)

    def lose(self, error: OSError | None = None) -> None:
        """The stream cannot be written any more (also for writers that draw it themselves)."""
        if self.gone:
            return
        self.gone = True
        silence(self.stream)
        if self.on_gone is not None:
            self.on_gone(error)


def silence(stream: IO[str]) -> None:
    """Point a dead stdout at /dev/null, so that the interpreter's last flush of what is still
    buffered does not fail (Python's documented recipe for SIGPIPE)."""
    if stream is not sys.stdout and stream is not sys.__stdout__:
        return
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, _fileno(sys.__stdout__))
        os.close(devnull)


def stand_in_for_closed_streams() -> None:
    """Give a Python started with stdin, stdout or stderr closed (`cnntui run >&-`, `<&-`, a
    daemon's launcher) /dev/null in their place. Such a Python has None for them, and the
    first write, isatty() or flush failed the command with a traceback; the shell asked for
    the output to go nowhere, and now it does, and a closed stdin is no terminal. Opening
    /dev/null takes the lowest free descriptor, the closed one, so the processes a run starts
    (`--nproc` ranks) inherit it too: stdin first, or with 0 and 1 closed stdout's took 0."""
    if sys.stdin is None:
        sys.stdin = open(os.devnull)  # noqa: SIM115 - open for the whole process
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - open for the whole process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115


def tell(text: str) -> None:
    """A line on stderr that may go nowhere: after SIGHUP the terminal is usually gone, and a
    failed write there (from a signal handler, on the training thread) must not end the run."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


def stdout_stat() -> os.stat_result | None:
    """What stdout is now (a pipe, a file, a terminal), to tell later whether it was silenced."""
    try:
        return os.fstat(_fileno(sys.__stdout__))
    except (AttributeError, OSError, ValueError):
        return None


def stdout_is_stderr() -> bool:
    """Whether stdout and stderr write to one terminal, pipe or file (a shell's default, or
    `> log.txt 2>&1`): what one says, the reader of the other has seen."""
    try:
        return os.path.samestat(
            os.fstat(_fileno(sys.__stdout__)), os.fstat(_fileno(sys.__stderr__))
        )
    except (AttributeError, OSError, ValueError):
        return False


def reader_left(before: os.stat_result | None) -> bool:
    """Whether the reader of stdout has gone since `before` was taken. Rich and click each exit
    1 when it has (`cnntui models | head -1`): rich after pointing stdout at /dev/null, click
    leaving the pipe as it is, where poll() reports the error of a pipe with no reader."""
    now = stdout_stat()
    if before is None or now is None:
        return False
    try:
        devnull = os.stat(os.devnull)
    except OSError:
        return False
    if os.path.samestat(now, devnull) and not os.path.samestat(before, devnull):
        return True
    if not stat.S_ISFIFO(now.st_mode) or not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(_fileno(sys.__stdout__), select.POLLOUT)
    return any(mask & select.POLLERR for _, mask in poller.poll(0))


def _fileno(stream: TextIO | None) -> int:
    """The stream's file descriptor. A Python started with it closed (`cnntui run >&-`) has
    None for the stream; that is a ValueError here, as for a stream closed later."""
    if stream is None:
        raise ValueError("the stream was closed when Python started")
    return stream.fileno()
