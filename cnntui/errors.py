"""Errors that the CLI turns into one line and an exit code instead of a traceback."""

from __future__ import annotations

import errno
from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130


class CnntuiError(Exception):
    """A failure with a message meant for the user and the exit code that goes with it."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CnntuiError):
    """Bad input from the user: an unknown name, a malformed shape, a wrong preset key."""

    exit_code = EXIT_USAGE


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for a failure: a CnntuiError's own, else the
    exception's type and text with exit 1 (its traceback goes to the run log, not the line)."""
    if isinstance(exc, CnntuiError):
        return str(exc), exc.exit_code
    return f"{type(exc).__name__}: {exc}", EXIT_ERROR


class WriteError(CnntuiError):
    """A file of the run directory could not be written (a full disk, a deleted directory).

    Nothing is wrong with the training itself: the weights in memory are intact, so the run
    still tries to save last.pt and summary.json, and fails with this message (exit 1)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


def write_error(path: Path, exc: OSError) -> WriteError:
    """A WriteError for `path`, named as a user would say it: "no space left on device writing
    runs/…/events.jsonl", or that the run directory was deleted under the run."""
    directory = path.parent
    if exc.errno == errno.ENOENT and not directory.is_dir():
        return WriteError(path, f"the run directory {directory} was deleted during the run")
    if exc.errno == errno.ENOENT:
        return WriteError(path, f"{path} was deleted during the run")
    reason = exc.strerror or str(exc)
    return WriteError(path, f"{reason[:1].lower()}{reason[1:]} writing {path}")
