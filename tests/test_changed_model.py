"""`cnntui eval` and `cnntui run --resume` of a run whose model, a user's file, has changed
since it was trained (the checkpoint's weights no longer fit), or whose model file or data folder
is not found from where cnntui now runs. Through the real command."""

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
def trained_run(tmp_path: Path) -> Path:
    """The folder of `mynet.py`, 32 hidden units, and of `run`, 2 steps of it."""
    (tmp_path / "mynet.py").write_text(NET.format(hidden=32))
    first = cnntui(
        tmp_path,
        *("run", "mynet.py:net", "--dataset", DATA, "--epochs", "2", "-b", "64"),
        *("--max-steps", "2", "--device", "cpu", "--headless", "--run-dir", "run"),
    )
    assert first.returncode == 0, first.stderr
    return tmp_path


@pytest.fixture
def changed_run(trained_run: Path) -> Path:
    """The trained run, whose model file now builds 48 hidden units."""
    (trained_run / "mynet.py").write_text(NET.format(hidden=48))
    return trained_run


def refusal(cwd: Path, command: list[str]) -> str:
    """The one line on stderr of `command` run in `cwd`, refused with exit 2."""
    result = cnntui(cwd, *command)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("cnntui: error: ")
    return result.stderr


# `eval` and `run --resume` of a run directory: both rebuild the run's model.
BOTH = {"eval": ["eval"], "resume": ["run", "--headless", "--max-steps", "4", "--resume"]}


@pytest.mark.parametrize("command", BOTH.values(), ids=BOTH.keys())
def test_a_model_changed_since_the_run_is_one_line_naming_what_differs(
    changed_run: Path, command: list[str]
) -> None:
    """`run --resume` raised torch's RuntimeError from load_state_dict with a traceback (exit 1);
    eval printed torch's message of one line per mismatched tensor."""
    said = refusal(changed_run, [*command, "run"])
    assert "does not fit model mynet.py:net as it is built now" in said
    assert "1.weight is 32x784 in the checkpoint and 48x784 in the model" in said
    assert "(and 2 more tensors)" in said
    # Nothing of the refused resume reached the run directory.
    assert '"step":4' not in (changed_run / "run" / "events.jsonl").read_text()


@pytest.mark.parametrize("command", BOTH.values(), ids=BOTH.keys())
def test_a_relative_model_file_read_from_another_folder_says_where_it_was_looked_for(
    trained_run: Path, command: list[str]
) -> None:
    """Evaluated or resumed from another folder, the run's `mynet.py` is not found; it was
    refused as "model file mynet.py does not exist", naming neither the folder it was looked
    for in nor that the run's saved config named it."""
    elsewhere = trained_run / "elsewhere"
    elsewhere.mkdir()
    said = refusal(elsewhere, [*command, "../run"])
    assert "config" in said and "names model mynet.py:net" in said
    assert (
        f"mynet.py does not exist in {elsewhere}; a relative path is read from the current "
        "folder: run cnntui from the folder the run was started in" in said
    )
    # From the run's own folder, it is found.
    assert cnntui(trained_run, "eval", "run").returncode == 0


FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("command", BOTH.values(), ids=BOTH.keys())
def test_a_relative_data_dir_read_from_another_folder_says_where_and_what_to_give(
    tmp_path: Path, command: list[str]
) -> None:
    """Refused as "data_dir fm is not a directory", naming neither where it was looked for
    nor that --data-dir reads the data from elsewhere; a generated data set, which reads no
    folder, is let be."""
    assert FMNIST.is_dir(), "apt-get install dataset-fashion-mnist (CI's .ci/run does)"
    (tmp_path / "fm").mkdir()
    for file in FMNIST.iterdir():
        (tmp_path / "fm" / file.name).symlink_to(file)
    for run, data in (("run", []), ("generated", ["--dataset", DATA])):
        first = cnntui(
            tmp_path,
            *("run", "lenet", "--data-dir", "fm", *data, "-b", "4096", "--max-steps", "1"),
            *("--epochs", "2", "--device", "cpu", "--headless", "--run-dir", run),
        )
        assert first.returncode == 0, first.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    said = refusal(elsewhere, [*command, "../run"])
    assert "config" in said
    assert (
        f"data_dir fm is not a directory in {elsewhere}; a relative path is read from "
        "the current folder: run cnntui from the folder the run was started in, or give "
        "--data-dir DIR to read the data from another folder"
    ) in said
    assert cnntui(elsewhere, *command, "../generated").returncode == 0
