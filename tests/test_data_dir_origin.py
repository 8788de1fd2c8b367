"""A data_dir is named where it was set: `--data-dir` when typed, the preset's key when a preset
file set it, the checkpoint's saved config when a resumed or evaluated run brought it. The
messages said `--data-dir` in every case, a flag the user had not typed."""

from __future__ import annotations

from pathlib import Path

import torch
from cnntui_command import cnntui

from cnntui.config import RunConfig
from cnntui.engine.checkpoint import load_checkpoint
from cnntui.engine.trainer import Trainer

SYNTHETIC = "synthetic:1x28x28:10:train=256:test=64"


def preset(tmp_path: Path, dataset: str, data_dir: Path) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(
        f'model = "lenet"\ndataset = "{dataset}"\ndata_dir = "{data_dir}"\n'
        "batch_size = 64\nmax_steps = 1\n"
    )
    return path


def test_a_preset_data_dir_is_named_by_its_key_in_the_warning(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    path = preset(tmp_path, SYNTHETIC, tmp_path / "empty")
    out = cnntui("run", "--preset", path, "--headless", "--device", "cpu",
                 "--runs-root", tmp_path / "runs")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"cnntui: warning: {path}: data_dir {tmp_path / 'empty'} is not used: " in out.stderr
    assert "--data-dir" not in out.stderr
    # The same folder typed on the command line is named by the flag.
    typed = cnntui("run", "--preset", path, "--headless", "--device", "cpu", "--data-dir",
                   tmp_path / "empty", "--runs-root", tmp_path / "runs")  # fmt: skip
    assert f"cnntui: warning: --data-dir {tmp_path / 'empty'} is not used: " in typed.stderr


def test_a_preset_data_dir_that_is_no_folder_is_named_by_its_key(tmp_path) -> None:
    path = preset(tmp_path, "mnist", tmp_path / "gone")
    out = cnntui("run", "--preset", path, "--headless", "--device", "cpu",
                 "--runs-root", tmp_path / "runs")  # fmt: skip
    assert out.returncode == 2
    assert out.stderr == (
        f"cnntui: error: {path}: data_dir {tmp_path / 'gone'} is not a directory\n"
    )
    assert not (tmp_path / "runs").exists()


def test_a_saved_data_dir_is_named_as_the_checkpoints(tmp_path) -> None:
    """`eval` of a run whose data folder is gone, and `--resume` of it: the folder came from
    the run's saved config, not from a flag of this command line."""
    run_dir = tmp_path / "run"
    config = RunConfig(dataset=SYNTHETIC, batch_size=64, max_steps=1, health_every=0,
                       run_dir=str(run_dir), device="cpu")  # fmt: skip
    assert Trainer(config).run() == 0
    state = load_checkpoint(run_dir)
    gone = tmp_path / "gone"
    state["config"].update(dataset="mnist", data_dir=str(gone))
    torch.save(state, run_dir / "last.pt")
    evaluated = cnntui("eval", run_dir / "last.pt", "--device", "cpu")
    assert evaluated.returncode == 2
    assert evaluated.stderr == (
        f"cnntui: error: {run_dir / 'last.pt'} (its saved config): data_dir {gone} "
        "is not a directory; give --data-dir DIR to read the data from another folder\n"
    )
    resumed = cnntui("run", "--resume", run_dir, "--max-steps", "2", "--headless")
    assert resumed.returncode == 2
    assert resumed.stderr == (
        f"cnntui: error: the checkpoint's config: data_dir {gone} is not a directory; give "
        "--data-dir DIR to read the data from another folder\n"
    )
