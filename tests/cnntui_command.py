"""The real `cnntui` command as the tests that launch ranks run it: a peer that never comes is
given up on after 30 s, not torch's default, and the test's own environment is no rank's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_TIMEOUT = 240  # two torch imports and a rendezvous on a busy 2-core machine


def cnntui(*args: object, terminal: bool = False) -> subprocess.CompletedProcess:
    """The real command; with `terminal`, on a pseudo-terminal, where `--nproc` shows the
    dashboard over its launcher."""
    env = {**os.environ, "CNNTUI_DIST_TIMEOUT": "30"}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "cnntui", *map(str, args)]
    if not terminal:
        return subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT
        )
    controller, tty = os.openpty()
    try:
        return subprocess.run(
            [*command, "--exit-on-finish"],
            cwd=ROOT,
            env=env,
            stdin=tty,
            stdout=tty,
            stderr=subprocess.PIPE,
            text=True,
            timeout=LAUNCH_TIMEOUT,
        )
    finally:
        os.close(tty)
        os.close(controller)
