"""Errors that the CLI turns into one line and an exit code instead of a traceback."""

from __future__ import annotations

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
