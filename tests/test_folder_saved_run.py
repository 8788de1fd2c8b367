"""A run of `--dataset folder:PATH` with a relative PATH, evaluated and resumed from another
folder: the run reads its images where it read them first. Through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_data_bundle import write_folder

from cnntui.engine.checkpoint import load_checkpoint


def cnntui(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cnntui", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_a_relative_folder_is_read_where_the_run_read_it(tmp_path: Path) -> None:
    """`eval` and `--resume` from another folder said "folder:pets: no such directory": the
    saved relative path was read from the folder they ran in."""
    started, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    write_folder(started / "pets")
    elsewhere.mkdir()
    run_dir = tmp_path / "run"
    first = cnntui(
        *("run", "lenet", "--dataset", "folder:pets", "--resize", "28", "--epochs", "1"),
        *("-b", "4", "--max-steps", "1", "--device", "cpu", "--headless", "--run-dir", run_dir),
        cwd=started,
    )
    assert first.returncode == 0, first.stderr

    evaluated = cnntui("eval", run_dir, "--json", cwd=elsewhere)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["dataset"] == "folder:pets"  # as the user typed it
    assert report["data_source"] == str(started / "pets")
    assert report["classes"] == ["cat", "dog"]
    assert sum(map(sum, report["confusion"])) == 4  # the two val/ images of each class

    resumed = cnntui("run", "--resume", run_dir, "--max-steps", "2", "--headless", cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stderr
    assert "lenet on folder:pets," in resumed.stdout
    saved = load_checkpoint(run_dir / "last.pt")
    assert (saved["step"], saved["config"]["dataset"]) == (2, "folder:pets")
    assert saved["data_source"] == str(started / "pets")

    # The same folder named another way is the run's own data set; another folder is not.
    same = cnntui(
        *("run", "--resume", run_dir, "--max-steps", "3", "--headless"),
        *("--dataset", f"folder:{started / 'pets'}"),
        cwd=elsewhere,
    )
    assert same.returncode == 0, same.stderr
    assert load_checkpoint(run_dir / "last.pt")["step"] == 3
    other = cnntui(
        *("run", "--resume", run_dir, "--max-steps", "4", "--headless"),
        *("--dataset", "folder:pets"),
        cwd=elsewhere,
    )
    assert other.returncode == 2
    assert "--dataset cannot change when resuming" in other.stderr

    # A folder that is really gone is still said to be gone, where it was looked for.
    (started / "pets").rename(started / "moved")
    gone = cnntui("eval", run_dir, cwd=elsewhere)
    assert gone.returncode == 2
    assert gone.stderr == f"cnntui: error: folder:{started / 'pets'}: no such directory\n"
