"""`cnntui run --resume` given the run's own settings written another way: no change, and the
resume goes on. Through the real command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cnntui.engine.checkpoint import load_checkpoint

SHORT = ["--dataset", "synthetic:1x28x28:10:train=256:test=64", "-b", "64", "--epochs", "1"]


def cnntui(*args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cnntui", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_the_runs_optimizer_in_another_case_is_no_change(tmp_path: Path) -> None:
    """A run of `--optimizer SGD` resumed with `--optimizer sgd` was refused: "--optimizer
    cannot change when resuming (the run was started with optimizer = 'SGD')"."""
    run_dir = tmp_path / "run"
    first = cnntui(
        *("run", "lenet", *SHORT, "--optimizer", "SGD", "--max-steps", "1", "--device", "cpu"),
        *("--headless", "--run-dir", run_dir),
    )
    assert first.returncode == 0, first.stderr

    resumed = cnntui(
        "run", "--resume", run_dir, "--optimizer", "sgd", "--max-steps", "2", "--headless"
    )
    assert resumed.returncode == 0, resumed.stderr
    saved = load_checkpoint(run_dir / "last.pt")
    assert saved["step"] == 2
    assert saved["config"]["optimizer"] == "SGD"  # the run keeps the name it was started with

    changed = cnntui(
        "run", "--resume", run_dir, "--optimizer", "adam", "--max-steps", "3", "--headless"
    )
    assert changed.returncode == 2
    assert "--optimizer cannot change when resuming" in changed.stderr
