"""A set-up error in a data-parallel run, said once: rank 0 says it, the other ranks leave
quietly with its exit code, and every rank writes it to the error file torch's launcher gives
it, where the launcher (cnntui.launch_failure) reads it back. Torch-free: a rank may fail
before torch loads.

Every rank sets up the same run, so a bad --data-dir or model option failed on each of them
with the same line, and a bug with the same traceback; rank 0's alone is printed, as a single
process prints it. When another rank fails first, the launcher stops rank 0 before it can say
why, and says it from that rank's file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
import traceback
from typing import Any

from cnntui.errors import CnntuiError, describe_failure

KEY = "cnntui_setup"  # beside torch's own "message" and "timestamp" in the error file


def launched_rank() -> int | None:
    """This process's rank in a data-parallel run (torch's launcher sets the variables), or None
    for a single process."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return None
    return int(os.environ.get("RANK", "0") or 0)


def leave_on_set_up_failure(exc: Exception, json_output: bool) -> None:
    """In a rank: say the error if this is rank 0 (on stderr, and as the `failed` line with
    `json_output`), record it for the launcher, and leave now with its exit code. A CnntuiError
    is said as its line, any other exception as the traceback Python would print for it. A
    single process returns, and its caller says it."""
    rank = launched_rank()
    if rank is None:
        return
    # The launcher's SIGTERM (another rank failed first), or a Ctrl-C, is ignored from here to
    # the exit, which comes at once: between saying the error and recording it, it would make
    # rank 0 say it and the launcher too, or neither. Ignored for the whole process: blocking a
    # signal (pthread_sigmask) holds it off only for this thread, and the process has others by
    # now (torch's, the process group's), one of which the kernel then hands it to.
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):  # not all on Windows
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    message, code = describe_failure(exc)
    trace = None if isinstance(exc, CnntuiError) else uncaught_traceback(exc)
    if rank == 0:
        say_set_up_failure(message, code, trace, json_output)
    record: dict[str, Any] = {"rank": rank}
    if trace is not None:
        record["traceback"] = trace
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if path:
        data = {"message": message, "timestamp": int(time.time()), KEY: record}
        with contextlib.suppress(OSError), open(path, "w") as file:
            json.dump(data, file)
    sys.stdout.flush()
    sys.stderr.flush()
    # Without the interpreter's teardown, which can abort in torch's native code once the
    # process group exists (cnntui.run_command.leave_rank).
    os._exit(code)


def say_set_up_failure(message: str, code: int, trace: str | None, json_output: bool) -> None:
    """A set-up failure said as a single process says it: with `json_output` first the `failed`
    line a script waits for, then on stderr its line, or the traceback of an exception cnntui
    does not word. By rank 0, or by the launcher for it when rank 0 was stopped first."""
    if json_output:
        from cnntui.headless import write_failed_json

        write_failed_json(message, code, trace or "")
    sys.stderr.write(f"cnntui: error: {message}\n" if trace is None else trace)
    sys.stderr.flush()


def uncaught_traceback(exc: BaseException) -> str:
    """The traceback Python prints for `exc` left uncaught, from where it is being handled: its
    own frames, below those of the callers it would have passed through (and without the
    "[rankN]: " that torch's exception hook puts before every line)."""
    report = traceback.TracebackException.from_exception(exc)
    if exc.__traceback__ is not None:
        callers = traceback.extract_stack(exc.__traceback__.tb_frame.f_back)
        report.stack = traceback.StackSummary.from_list([*callers, *report.stack])
    return "".join(report.format())


def set_up_message(failure: Any) -> str | None:
    """The set-up error a failed rank recorded (a torch ProcessFailure), or None when it failed
    otherwise (an unexpected exception included)."""
    record = recorded(failure)
    if record is None or "traceback" in record:
        return None
    return str(failure.error_file_data.get("message", ""))


def set_up_traceback(failure: Any) -> str | None:
    """The traceback of the unexpected exception a failed rank recorded in its set-up, or None
    when it failed otherwise."""
    record = recorded(failure)
    if record is None or "traceback" not in record:
        return None
    return str(record["traceback"])


def recorded(failure: Any) -> dict[str, Any] | None:
    """What a rank that left on a set-up failure recorded of it, or None."""
    data = getattr(failure, "error_file_data", None)
    if not isinstance(data, dict) or not isinstance(data.get(KEY), dict):
        return None
    return data[KEY]
