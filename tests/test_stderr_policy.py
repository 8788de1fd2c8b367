"""Which lines a run's end writes to stderr, policy by policy: each failure is seen once."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from cnntui.engine.stderr_policy import StderrPolicy, stderr_lines
from cnntui.errors import CnntuiError, WriteError

FULL_LOG = WriteError(Path("run/events.jsonl"), "no space left on device writing events.jsonl")
GONE_SUMMARY = WriteError(Path("run/summary.json"), "no space left on device writing summary")

CASES = [
    # policy, status, message, write_failed, late, lines
    ("writes", "failed", "disk full", True, [], ["cnntui: error: disk full"]),
    ("writes", "failed", "bad shape", False, [], []),
    ("writes", "diverged", "loss is nan; also disk full", True, [], [
        "cnntui: diverged: loss is nan; also disk full",
    ]),
    ("writes", "finished", "", False, [FULL_LOG], [f"cnntui: error: {FULL_LOG}"]),
    ("all", "failed", "bad shape", False, [], ["cnntui: error: bad shape"]),
    ("all", "diverged", "loss is nan at step 3", False, [], [
        "cnntui: diverged: loss is nan at step 3",
    ]),
    ("all", "finished", "", False, [], []),
    ("all", "interrupted", "SIGTERM", False, [], []),
    ("all", "failed", "bad shape", False, [FULL_LOG, GONE_SUMMARY], [
        "cnntui: error: bad shape",
        f"cnntui: error: {FULL_LOG}",
        f"cnntui: error: {GONE_SUMMARY}",
    ]),
    ("late", "failed", "disk full", True, [], []),
    ("late", "diverged", "loss is nan", False, [], []),
    ("late", "interrupted", "SIGTERM", False, [FULL_LOG, CnntuiError("stdout is full")], [
        f"cnntui: error: {FULL_LOG}",
        "cnntui: error: stdout is full",
    ]),
    ("none", "failed", "disk full", True, [FULL_LOG], []),
    ("none", "diverged", "loss is nan", False, [], []),
]  # fmt: skip


@pytest.mark.parametrize(("policy", "status", "message", "write_failed", "late", "lines"), CASES)
def test_the_end_of_a_run_writes_these_lines_to_stderr(
    policy: StderrPolicy,
    status: str,
    message: str,
    write_failed: bool,
    late: list[CnntuiError],
    lines: list[str],
) -> None:
    assert stderr_lines(policy, status, message, write_failed, late) == lines


def test_the_table_covers_every_policy() -> None:
    assert {case[0] for case in CASES} == set(get_args(StderrPolicy))
