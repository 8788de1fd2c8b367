"""`cnntui eval` of a run trained with --amp: evaluated under the run's autocast, so that it
gives the numbers the run recorded. Through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnntui.eval_command import eval_precision

DATA = "synthetic:1x28x28:10:train=256:test=256"


def cnntui(*args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cnntui", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_a_bf16_run_is_evaluated_as_it_evaluated_itself(tmp_path: Path) -> None:
    """eval ran in float32: the test loss of a bf16 run on the CPU differed from the one the run
    recorded in the fourth digit (2.82597 against 2.82666)."""
    run_dir = tmp_path / "run"
    trained = cnntui(
        *("run", "lenet", "--dataset", DATA, "-b", "64", "--epochs", "1", "--amp", "bf16"),
        *("--device", "cpu", "--headless", "--run-dir", run_dir),
    )
    assert trained.returncode == 0, trained.stderr
    recorded = json.loads((run_dir / "summary.json").read_text())["final"]["test_loss"]

    evaluated = cnntui("eval", run_dir, "--device", "cpu", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stderr == ""
    report = json.loads(evaluated.stdout)
    assert report["amp"] == "bf16"
    # Only the batches differ (256 against the run's 64): float32 sums, not bf16 rounding.
    assert report["test_loss"] == pytest.approx(recorded, rel=1e-6)


@pytest.mark.parametrize(
    ("amp", "expected"),
    [("off", ("off", None)), ("auto", ("off", None)), ("bf16", ("bf16", torch.bfloat16))],
)
def test_what_the_cpu_evaluates_in(amp: str, expected: tuple) -> None:
    """`auto` is what a run on the CPU made of it: off (older checkpoints saved `auto`)."""
    assert eval_precision(amp, torch.device("cpu")) == (*expected, None)


def test_an_fp16_run_evaluated_on_the_cpu_is_float32_and_said_so() -> None:
    """The engine refuses fp16 autocast off CUDA; eval goes on in float32, with a warning."""
    amp, dtype, note = eval_precision("fp16", torch.device("cpu"))
    assert (amp, dtype) == ("off", None)
    assert note == (
        "the run evaluated under fp16 autocast, which cpu cannot run here; evaluating in "
        "float32, so the numbers may differ slightly from the run's"
    )
