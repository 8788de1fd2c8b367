"""Runs tests/interpreted_pool_kernels.py under Triton's interpreter, in a process of its own:
TRITON_INTERPRET must be set before Triton is imported, and stays set for the whole process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHECKS = Path(__file__).with_name("interpreted_pool_kernels.py")


def test_the_kernels_under_tritons_interpreter() -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CHECKS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "9 passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]
