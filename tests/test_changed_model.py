"""`cnntui eval` and `cnntui run --resume` of a run whose model, a user's file, has changed
since it was trained: the checkpoint's weights no longer fit. Through the real command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

NET = """\
from torch import nn

def net(num_classes=10):
    hidden = {hidden}
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
    )
"""
DATA = "synthetic:1x28x28:10:train=256:test=64"


def cnntui(cwd: Path, *args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cnntui", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def changed_run(tmp_path: Path) -> Path:
    """A run of `mynet.py:net` with 32 hidden units, whose file now builds 48."""
    (tmp_path / "mynet.py").write_text(NET.format(hidden=32))
    first = cnntui(
        tmp_path,
        *("run", "mynet.py:net", "--dataset", DATA, "--epochs", "2", "-b", "64"),
        *("--max-steps", "2", "--device", "cpu", "--headless", "--run-dir", "run"),
    )
    assert first.returncode == 0, first.stderr
    (tmp_path / "mynet.py").write_text(NET.format(hidden=48))
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [["eval", "run"], ["run", "--resume", "run", "--headless", "--max-steps", "4"]],
    ids=["eval", "resume"],
)
def test_a_model_changed_since_the_run_is_one_line_naming_what_differs(
    changed_run: Path, command: list[str]
) -> None:
    """`run --resume` raised torch's RuntimeError from load_state_dict with a traceback (exit 1);
    eval printed torch's message of one line per mismatched tensor."""
    result = cnntui(changed_run, *command)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cnntui: error: ")
    assert "does not fit model mynet.py:net as it is built now" in lines[0]
    assert "1.weight is 32x784 in the checkpoint and 48x784 in the model" in lines[0]
    assert "(and 2 more tensors)" in lines[0]
    # Nothing of the refused resume reached the run directory.
    assert '"step":4' not in (changed_run / "run" / "events.jsonl").read_text()
