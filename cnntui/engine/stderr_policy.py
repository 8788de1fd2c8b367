"""Which failures a run says on stderr as `cnntui: error: ...`, so that each is seen once.

Who shows the events picks the policy; the run's end applies it (`RunEnd._finish` in run_end.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from cnntui.engine.events import RunStatus
from cnntui.errors import CnntuiError

# The policies:
#   "writes": those writing a file, when no reporter is known: one may write to that full disk.
#   "all": every failure and divergence, where stdout holds nothing a person at the terminal
#          reads (`--json`, or headless lines redirected: `--headless > log.txt`).
#   "late": only those after the run's last line; the reporter's lines said the rest, on the
#           terminal or file that stderr writes to (a plain `--headless`, or `> log.txt 2>&1`).
#   "none": a dashboard holds the terminal and shows them itself.
StderrPolicy = Literal["writes", "all", "late", "none"]


def stderr_lines(
    policy: StderrPolicy,
    status: RunStatus,
    message: str,
    write_failed: bool,
    late: Sequence[CnntuiError],
) -> list[str]:
    """The lines a run that ended with `status` and `message` writes to stderr.

    `write_failed`: a file of the run failed to write (the run directory, stdout). `late`: the
    failures after the run's last line (the end missing from events.jsonl or stdout), which no
    reporter could show; they follow the run's own line."""
    lines = []
    if (policy == "writes" and write_failed) or (
        policy == "all" and status in ("failed", "diverged")
    ):
        lines.append(f"cnntui: {'error' if status == 'failed' else status}: {message}")
    if policy != "none":
        lines.extend(f"cnntui: error: {failure}" for failure in late)
    return lines
