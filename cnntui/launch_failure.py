"""How a data-parallel launch failed, said once and in cnntui's words: which rank to blame and
why (torch's ProcessFailure by rank, and what a rank recorded of its set-up failure), and what the
terminal keeps of the launch's log once the dashboard has closed."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from cnntui.errors import EXIT_DIVERGED, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from cnntui.rank_setup_failure import say_set_up_failure, set_up_message, set_up_traceback

# How the launcher's line blaming a rank begins; launch_log_excerpt finds it in the log.
ROOT_FAILURE_LEAD = "cnntui: error: rank "
ROOT_FAILURE_LINE = re.compile(re.escape(ROOT_FAILURE_LEAD) + r"(\d+) \(pid \d+\) ")
# What torch's exception hook puts before each line of a rank's uncaught exception, once the
# process group is up (blank lines have none).
RANK_PREFIX = "[rank{}]: "


def say_failed_launch(failures: dict[int, Any], nproc: int, json_output: bool) -> int:
    """Say once why the ranks failed (torch's ProcessFailure by rank), unless a rank said it;
    the launch's exit code. With `json_output`, a set-up failure that rank 0 could not report
    is written as its `failed` line."""
    set_up = first_recorded(failures, set_up_message)
    if set_up is not None:
        # Every rank sets up the same run and fails the same way, and the ranks that did not
        # were stopped (or killed) by that: the error wins over how they ended.
        rank, failure, message = set_up
        if rank != 0:  # rank 0, stopped before it could say its own, has said nothing
            say_set_up_failure(message, failure.exitcode, None, json_output)
        return failure.exitcode
    rank, failure = root_failure(failures)
    code = failure.exitcode
    # An unexpected exception in set-up (a bug, an error cnntui does not word), unless a rank
    # was killed: its peers' exceptions may only say that they lost it.
    crash = first_recorded(failures, set_up_traceback) if code > 0 else None
    if crash is not None:
        rank, failure, trace = crash
        if rank != 0:  # as for a set-up error: rank 0, stopped first, has said nothing
            say_set_up_failure(failure.message, failure.exitcode, trace, json_output)
        same = sum(set_up_traceback(other) == trace for other in failures.values())
        if same > 1:
            print(f"cnntui: {same} of {nproc} ranks failed the same way", file=sys.stderr)
        sys.stderr.flush()
        return failure.exitcode
    if rank == 0 and failure_kind(failure) == FAILED:
        # Rank 0 has said why on stderr, as a single process would (its run's error, or a
        # traceback), and the others only stopped with it: a second line adds nothing. An
        # exit code cnntui never gives (exit(7)) said nothing, and is blamed below.
        return code
    if failure_kind(failure) == STOPPED and getattr(failures.get(0), "exitcode", 0) == (
        EXIT_INTERRUPTED
    ):
        # No rank failed: each stopped with the others (or was ended by the launcher once
        # one had), and rank 0 ended the run as a stop, saved last.pt and said why (its
        # stdout closed, a signal to one rank), as a single process does. "error: rank 0
        # exited with code 130" called that a failure.
        return EXIT_INTERRUPTED
    how = f"was killed by {failure.signal_name()}" if code < 0 else f"exited with code {code}"
    print(
        f"{ROOT_FAILURE_LEAD}{rank} (pid {failure.pid}) {how}; stopped all {nproc} ranks",
        file=sys.stderr,
        flush=True,
    )
    return EXIT_ERROR if failure_kind(failure) == KILLED else code  # cnntui's codes only


def first_recorded(
    failures: dict[int, Any], read: Callable[[Any], str | None]
) -> tuple[int, Any, str] | None:
    """What `read` finds that a failed rank recorded of its set-up failure: rank 0's when it
    recorded one (it has said it then), else the lowest rank's, as (rank, failure, what); None
    when no rank recorded one."""
    for rank in sorted(failures):
        found = read(failures[rank])
        if found is not None:
            return rank, failures[rank], found
    return None


def root_failure(failures: dict[int, Any]) -> tuple[int, Any]:
    """The rank to blame: of the first kind there is, the one torch saw fail first, and of
    those the lowest rank. Torch's time of a failure is a whole second, the one its error file
    says or, for a rank that wrote none, the one the launcher saw it end in: ranks of one kind
    mostly share it, and then the lowest rank is blamed. The kinds:

    1. killed by a signal (SIGKILL, SIGABRT), or ended with a code cnntui never gives: its
       peers fail only after it, when a collective breaks, and a rank that exits fast can be
       seen before the killed one it lost;
    2. failed with a code of its own (1, 2, 3);
    3. stopped (130) or killed by the launcher's own SIGTERM: what the others do once one
       rank stops. When rank 0 fails (a run directory it cannot write), the other ranks stop
       with it at the next step and, having no files to write, often exit first."""

    def rank_key(item: tuple[int, Any]) -> tuple[int, float, int]:
        rank, failure = item
        return (failure_kind(failure), failure.timestamp, rank)

    return min(failures.items(), key=rank_key)


KILLED, FAILED, STOPPED = 1, 2, 3  # root_failure's kinds, the cause first


def failure_kind(failure: Any) -> int:
    """Which of root_failure's kinds a failed rank (torch's ProcessFailure) is. An exit code
    cnntui never gives (a library's exit(7), os._exit) ended the rank as abruptly as a kill:
    its peers only lost it, and said no more than gloo's "Connection closed by peer"."""
    code = failure.exitcode
    if code < 0:
        return STOPPED if failure.signal_name() == "SIGTERM" else KILLED
    if code not in (EXIT_ERROR, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED):
        return KILLED
    return STOPPED if code == EXIT_INTERRUPTED else FAILED


# The line Python prints between two tracebacks of one chain (an exception raised while
# handling another, or `raise ... from`): the traceback above it is the same failure's.
CHAINED_EXCEPTION_LINES = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def launch_log_excerpt(text: str, most: int = 200, tail: int = 20) -> str:
    """What the terminal keeps of a failed launch's log once the dashboard has closed.

    When the launcher's line blames a rank that left a traceback (torch's hook prefixes each of
    its lines with "[rankN]: "), that rank's last traceback, whole with the tracebacks chained
    to it, then the launcher's line: a peer that failed after it, in a collective that lost it,
    often printed its own traceback later, which is not the cause. Otherwise from the log's
    last traceback on, whole with the tracebacks chained to it (the ranks' set-up error, said
    once, and what follows it). Either if it is within the last `most` lines; otherwise the
    last `tail` lines. The last 20 alone cut a traceback's top frames off; an earlier traceback
    in the same launch (a warning's, a handled error's) is not how it failed."""
    lines = text.splitlines()[-most:]
    blamed = root_rank_traceback(lines)
    if blamed is not None:
        return "\n".join(blamed)
    start = last_chain_start(lines)
    if start is None:
        return "\n".join(lines[-tail:])
    return "\n".join(lines[start:])


def root_rank_traceback(lines: list[str]) -> list[str] | None:
    """The traceback chain of the rank the launcher's last line among `lines` blames, with that
    line after it; None when no line blames a rank or that rank printed no traceback (killed by
    a signal). Other ranks' lines between them are left out."""
    blames = (ROOT_FAILURE_LINE.match(line) for line in reversed(lines))
    blame = next((found for found in blames if found is not None), None)
    if blame is None:
        return None
    prefix = RANK_PREFIX.format(blame.group(1))
    own = [line for line in lines if line.startswith(prefix)]
    start = last_chain_start([line[len(prefix) :] for line in own])
    if start is None:
        return None
    chain: list[str] = []
    for line in own[start:]:
        # The blank lines around a link have no prefix: put back where Python printed them.
        linked = line[len(prefix) :].rstrip() in CHAINED_EXCEPTION_LINES
        chain.extend(["", line, ""] if linked else [line])
    return [*chain, blame.string]


def last_chain_start(lines: list[str]) -> int | None:
    """Where the last traceback among `lines` starts, with those chained to it: at the first of
    the chain. None when there is no traceback."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (")]
    if not starts:
        return None
    start = starts[-1]
    while (cause := chained_traceback_start(lines, start, starts)) is not None:
        start = cause
    return start


def chained_traceback_start(lines: list[str], start: int, starts: list[int]) -> int | None:
    """Where the traceback that the one starting at line `start` is chained to starts (one of
    `starts`), or None when the line above it, past blank ones, does not chain them."""
    above = start - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above < 0 or lines[above].rstrip() not in CHAINED_EXCEPTION_LINES:
        return None
    return next((i for i in reversed(starts) if i < above), None)
