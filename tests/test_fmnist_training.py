"""A real training run on the real Fashion-MNIST, through the real command.

CI installs Debian's dataset-fashion-mnist, so this never skips there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
def test_one_epoch_of_batch_norm_lenet_reaches_70_percent(tmp_path) -> None:
    assert FMNIST.is_dir(), "apt-get install dataset-fashion-mnist (CI's .ci/run does)"
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "run", "lenet-bn", "--epochs", "1", "--json",
         "--run-dir", str(run_dir)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    started = events[0]
    assert started["steps_per_epoch"] == 235  # 60,000 images in batches of 256
    assert started["classes"][0] == "T-shirt/top" and started["classes"][9] == "Ankle boot"
    epoch = next(e for e in events if e["event"] == "epoch")
    assert epoch["test_accuracy"] >= 0.70
    evaluation = next(e for e in events if e["event"] == "evaluation")
    assert sum(map(sum, evaluation["confusion"])) == 10_000

    report = subprocess.run(
        [sys.executable, "-m", "cnntui", "eval", str(run_dir / "best.pt"), "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["test_accuracy"] == pytest.approx(epoch["test_accuracy"])
