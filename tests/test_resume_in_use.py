"""`cnntui run --resume` of a run that another process is still training: refused first, before
any set-up, with one line and exit code 2, by a single process and by `--nproc` alike, and with
nothing written into the run directory. (The engine's own refusal: test_resume_run_dir.py.)"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from cnntui_command import cnntui

from cnntui.config import RunConfig
from cnntui.engine.checkpoint import load_checkpoint
from cnntui.engine.trainer import Trainer
from cnntui.runlog import EVENTS_FILE, hold_run_dir

# A data set that cannot be loaded: a refusal made after loading it would say so instead.
NO_DATA = "/nonexistent/cnntui-data"


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory) -> Path:
    """A run that ended at its max_steps (3), recorded as a run on MNIST in a folder that no
    longer exists: resumed for more steps, its set-up fails as it loads the data."""
    run_dir = tmp_path_factory.mktemp("recorded") / "run"
    config = RunConfig(
        model="lenet",
        dataset="synthetic:1x28x28:10:train=256:test=64",
        batch_size=64,
        max_steps=3,
        health_every=0,
        run_dir=str(run_dir),
        device="cpu",
    )
    assert Trainer(config).run() == 0
    state = load_checkpoint(run_dir)
    state["config"].update(dataset="mnist", data_dir=NO_DATA)
    torch.save(state, run_dir / "last.pt")
    return run_dir


@pytest.fixture
def run_dir(recorded_run, tmp_path) -> Path:
    return Path(shutil.copytree(recorded_run, tmp_path / "run"))


@contextmanager
def trained_in(run_dir: Path) -> Iterator[None]:
    """Hold the run directory as a live run does (`RunLogWriter`), without training."""
    with open(run_dir / EVENTS_FILE, "ab") as events:
        hold_run_dir(events, run_dir)
        yield


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize(
    ("resume", "otherwise"),
    [
        (("--max-steps", "9"), f"the checkpoint's config: data_dir {NO_DATA} is not a directory"),
        ((), "the run has already reached its max_steps (3 steps)"),
        (("lenet", "--max-steps", "9"), "its own model and config; drop 'lenet'"),
    ],
    ids=["data-loading", "nothing-left", "model-named"],
)
def test_a_live_run_is_refused_before_anything_else_and_alike_with_or_without_nproc(
    run_dir, resume, otherwise
) -> None:
    """A single process refused a live run only at the end of its set-up, after seconds of
    loading the data and building the model, and after refusing whatever else was wrong with
    the resume, while `--nproc` refused it first: the same command was told two things."""
    args = ("run", *resume, "--resume", run_dir)
    free = cnntui(*args, "--headless")
    assert free.returncode == 2 and otherwise in free.stderr  # refused when no run holds it
    before = contents(run_dir)
    error = f"cnntui: error: {run_dir} is in use: another cnntui process is still training"
    with trained_in(run_dir):
        for terminal in (False, True):
            mode = () if terminal else ("--headless",)
            single = cnntui(*args, *mode, terminal=terminal)
            assert single.returncode == 2
            assert single.stderr.startswith(error) and len(single.stderr.splitlines()) == 1
            launched = cnntui(*args, *mode, "--nproc", "2", terminal=terminal)
            assert (launched.returncode, launched.stderr) == (2, single.stderr)
    assert contents(run_dir) == before


def test_a_live_run_in_its_first_epoch_is_in_use_not_missing_its_checkpoint(tmp_path) -> None:
    """Before its first last.pt, a live run was refused as a directory with nothing to go on
    from, which sends the user looking for a checkpoint instead of waiting for the run."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with trained_in(run_dir):
        refused = cnntui("run", "--resume", run_dir, "--headless")
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"cnntui: error: {run_dir} is in use"), refused.stderr
    unheld = cnntui("run", "--resume", run_dir, "--headless")
    assert unheld.returncode == 2 and "holds no last.pt" in unheld.stderr
