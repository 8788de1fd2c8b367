"""Where a resumed run writes: its own run directory, which no other process may be writing,
and never the folder of a checkpoint that was copied out of its run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from cnntui.engine.trainer import Trainer
from cnntui.errors import UsageError


@pytest.fixture
def short_run(tiny_config):
    """A finished three-step run: something to resume with a larger max_steps."""
    config = dataclasses.replace(tiny_config, max_steps=3, health_every=0)
    assert Trainer(config).run() == 0
    return config


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_checkpoint_outside_a_run_directory_is_refused_and_its_folder_left_alone(
    short_run, tmp_path
) -> None:
    """The resumed run used to make the checkpoint's folder its run directory, writing
    config.json, events.jsonl, last.pt and summary.json among the files already there."""
    loose = tmp_path / "elsewhere"
    loose.mkdir()
    shutil.copy(Path(short_run.run_dir) / "last.pt", loose / "copy.pt")
    (loose / "notes.txt").write_text("mine\n")
    before = contents(loose)
    resumed = Trainer(short_run, resume_from=loose / "copy.pt", resume_overrides={"max_steps": 5})
    with pytest.raises(UsageError, match=r"is not a run directory .* as last\.pt"):
        resumed.setup()
    assert contents(loose) == before


def test_a_checkpoint_file_in_its_run_directory_resumes_there(short_run) -> None:
    run_dir = Path(short_run.run_dir)
    resumed = Trainer(short_run, resume_from=run_dir / "last.pt", resume_overrides={"max_steps": 5})
    assert resumed.run() == 0
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 5


def test_a_run_directory_still_being_trained_in_is_refused(short_run) -> None:
    """Two processes in one directory appended two runs' events to one events.jsonl, and
    each replaced the other's config.json, checkpoints and summary."""
    run_dir = Path(short_run.run_dir)
    first = Trainer(short_run, resume_from=run_dir, resume_overrides={"max_steps": 6})
    first.setup()  # holds the directory from here to the end of its run
    files = contents(run_dir)
    second = Trainer(short_run, resume_from=run_dir, resume_overrides={"max_steps": 9})
    with pytest.raises(UsageError, match=r"is in use: another cnntui process is still training"):
        second.setup()
    assert contents(run_dir) == files  # config.json is still the running one's
    assert first.run() == 0
    # Once the first has ended, the directory is free again.
    assert Trainer(short_run, resume_from=run_dir, resume_overrides={"max_steps": 9}).run() == 0
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 9


def test_a_run_in_use_is_refused_before_its_checkpoint_is_read(short_run, monkeypatch) -> None:
    """Through the Python API the whole checkpoint was loaded first: seconds for a big model,
    and a live run that had not written last.pt yet was refused as having none."""
    run_dir = Path(short_run.run_dir)
    first = Trainer(short_run, resume_from=run_dir, resume_overrides={"max_steps": 6})
    first.setup()
    import cnntui.engine.trainer as trainer_module

    def must_not_read(path, *args, **kwargs):
        raise AssertionError(f"read {path} of a run in use")

    monkeypatch.setattr(trainer_module, "load_checkpoint", must_not_read)
    (run_dir / "last.pt").rename(run_dir / "later.pt")  # as in its first epoch: none yet
    second = Trainer(short_run, resume_from=run_dir, resume_overrides={"max_steps": 9})
    with pytest.raises(UsageError, match=r"is in use: another cnntui process is still training"):
        second.setup()
    (run_dir / "later.pt").rename(run_dir / "last.pt")
    monkeypatch.undo()
    assert first.run() == 0
