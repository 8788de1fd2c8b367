"""The console entry point's last word: what an error leaving a command turns into.

A user-facing error becomes one line and its exit code; a reader that left the pipe, or a
full disk, is said plainly; click's usage errors keep their own wording (and, for `run
--json`, a `failed` line a script can read).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cnntui.errors import CnntuiError, write_error


def run_console(app: Any) -> None:
    """Run the command line `app` as the console entry point: user-facing errors become one
    line and an exit code, and the process exits."""
    from cnntui.reader_gone import (
        DISK_FULL,
        reader_left,
        silence,
        stand_in_for_closed_streams,
        stdout_stat,
    )

    stand_in_for_closed_streams()
    debug = "--debug" in sys.argv
    stdout_before = stdout_stat()
    try:
        result = app(standalone_mode=False)
    except SystemExit as exc:
        # Rich (tables, --help) and click (print) meet a closed pipe by exiting 1: under
        # `set -o pipefail`, `cnntui models | head -1` would fail a script for no fault.
        if exc.code == 1 and reader_left(stdout_before):
            sys.exit(0)
        raise
    except CnntuiError as exc:
        if debug:
            raise
        print(f"cnntui: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("Aborted.", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # `cnntui models | head`: the reader left, nothing went wrong. What is still buffered
        # would fail the interpreter's last flush (exit 1) unless it goes to /dev/null.
        silence(sys.stdout)
        sys.exit(0)
    except OSError as exc:
        # `cnntui shapes lenet > out.txt` on a full disk: a traceback said it. Worded as `run`
        # words it, so every command names the file it could not write (stdout when the error
        # has none).
        if debug or exc.errno not in DISK_FULL:
            raise
        if exc.filename is None:
            # The output is lost; what is still buffered would fail again at exit.
            silence(sys.stdout)
        failure = write_error(Path(exc.filename or "stdout"), exc)
        print(f"cnntui: error: {failure}", file=sys.stderr)
        sys.exit(failure.exit_code)
    except Exception as exc:
        # Typer's bundled click reports usage errors through exceptions that can show themselves.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            click_error: Any = exc  # a ClickException of typer's private copy of click
            if is_json_run(sys.argv[1:]):
                # A flag that does not parse (`--epochs abc`) refuses the run before it starts:
                # its script reads the `failed` line, as for any other refusal.
                from cnntui.headless import write_failed_json

                write_failed_json(click_error.format_message(), click_error.exit_code)
            click_error.show()
            sys.exit(click_error.exit_code)
        raise
    sys.exit(result if isinstance(result, int) else 0)


def is_json_run(args: list[str]) -> bool:
    """Whether a command line asks for `run ... --json`, read before click has parsed it."""
    return bool(args) and args[0] == "run" and "--json" in args
