"""What the end-to-end tests share: a run recorded once, for the tests that `watch` it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def recorded_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runs/ folder of a one-epoch headless run, recorded once (each run is seconds of
    torch's start-up): a test copies it into the directory it opens `watch` in."""
    workdir = tmp_path_factory.mktemp("recorded")
    recorded = subprocess.run(
        [sys.executable, "-m", "cnntui", "run", "lenet", "--dataset", "synthetic", "--epochs", "1",
         "--headless"],
        cwd=workdir, capture_output=True, text=True, timeout=150,  # a slow 2-core box
        env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    return workdir / "runs"
