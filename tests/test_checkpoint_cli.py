"""`cnntui eval` and `cnntui run --resume` on files that are not cnntui checkpoints.

Both read checkpoints through one loader, which never unpickles code; its refusals are one line
and exit 2, and never pass on PyTorch's advice to load with weights_only=False.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from cnntui.cli import main


class Opaque:
    """A class a weights-only load refuses."""


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, str, str]:
    """The CLI's own entry point, exit code and all, in this process."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["cnntui", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def write_python_file(path: Path) -> Path:
    path.write_text('def bad():\n    raise RuntimeError("boom")\n')
    return path


def write_object_file(path: Path) -> Path:
    torch.save({"model": {"w": torch.zeros(2)}, "config": {}, "extra": Opaque()}, path)
    return path


def write_state_dict(path: Path) -> Path:
    torch.save(OrderedDict(w=torch.zeros(2)), path)  # model.state_dict(), not a checkpoint
    return path


def write_truncated(path: Path) -> Path:
    torch.save({"model": {"w": torch.zeros(100)}, "config": {}}, path)
    path.write_bytes(path.read_bytes()[:100])
    return path


def write_plain_pickle(path: Path) -> Path:
    path.write_bytes(pickle.dumps({"model": [1, 2]}, protocol=4))
    return path


CASES = {
    "python": (
        "m.py",
        write_python_file,
        "{path} is not a cnntui checkpoint (not a file torch.save wrote)",
    ),
    "object": (
        "o.pt",
        write_object_file,
        "{path} is not a cnntui checkpoint: it holds a Python object ({opaque})",
    ),
    "state_dict": (
        "w.pt",
        write_state_dict,
        "{path} is not a cnntui checkpoint (no model state or saved config)",
    ),
    "truncated": (
        "t.pt",
        write_truncated,
        "cannot read checkpoint {path}: the file is damaged or cut short",
    ),
    "pickle": (
        "p.pkl",
        write_plain_pickle,
        "{path} is not a cnntui checkpoint (not a file torch.save wrote)",
    ),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", [["eval"], ["run", "--headless", "--resume"]])
def test_a_file_that_is_not_a_checkpoint_is_one_line_and_exit_2(
    case: str, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    name, write, message = CASES[case]
    # In a run directory: `--resume` refuses a loose file before it reads it.
    (tmp_path / "config.json").write_text("{}")
    path = write(tmp_path / name)
    code, out, err = run_cli([*command, str(path)], monkeypatch, capsys)
    assert code == 2
    assert out == ""
    opaque = f"{Opaque.__module__}.Opaque"
    assert err.startswith(f"cnntui: error: {message.format(path=path, opaque=opaque)}")
    assert err.count("\n") == 1
    assert "weights_only" not in err


def test_a_missing_checkpoint_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    code, _, err = run_cli(["eval", str(tmp_path / "none.pt")], monkeypatch, capsys)
    assert code == 2
    assert err == f"cnntui: error: checkpoint {tmp_path / 'none.pt'} does not exist\n"


def test_a_folder_without_last_pt_says_so_and_names_its_best_pt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`cnntui eval /tmp` said "checkpoint /tmp/last.pt does not exist", as if the user had
    typed that file; a run stopped in its first epoch after a best epoch has a best.pt to use."""
    code, _, err = run_cli(["eval", str(tmp_path)], monkeypatch, capsys)
    assert code == 2
    assert err == (
        f"cnntui: error: {tmp_path} holds no last.pt (a run writes it at the end of an epoch "
        "and when it stops)\n"
    )
    (tmp_path / "best.pt").write_bytes(b"")
    _, _, err = run_cli(["eval", str(tmp_path)], monkeypatch, capsys)
    assert err.endswith(f"; {tmp_path / 'best.pt'} is its best epoch's checkpoint\n")


def test_a_damaged_last_pt_points_to_its_runs_best_pt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A run whose last.pt was cut short (a disk fault, an interrupted copy) can still go on
    from its best epoch; the refusal says where."""
    last = write_truncated(tmp_path / "last.pt")
    torch.save({"model": {"w": torch.zeros(2)}, "config": {}}, tmp_path / "best.pt")
    code, _, err = run_cli(["run", "--headless", "--resume", str(tmp_path)], monkeypatch, capsys)
    assert code == 2
    assert err == (
        f"cnntui: error: cannot read checkpoint {last}: the file is damaged or cut short; "
        f"its run's best.pt may still be read: pass {tmp_path / 'best.pt'}\n"
    )


def test_a_run_directory_with_only_a_best_pt_says_to_resume_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    torch.save({"model": {"w": torch.zeros(2)}, "config": {}}, tmp_path / "best.pt")
    code, _, err = run_cli(["run", "--headless", "--resume", str(tmp_path)], monkeypatch, capsys)
    assert code == 2
    assert err.endswith(f"; --resume {tmp_path / 'best.pt'} goes on from its best epoch\n")


def test_a_run_that_diverged_before_its_first_save_says_so(tmp_path: Path) -> None:
    """eval and --resume said "(a run writes it at the end of an epoch and when it stops)" of
    a run that had stopped, diverged, and saved nothing; its summary.json says why. The real
    command: an MLP at learning rate 1000 diverges at its fourth step."""
    run_dir = tmp_path / "run"
    diverged = subprocess.run(
        [
            *(sys.executable, "-m", "cnntui", "run", "mlp", "--lr", "1000", "-b", "64"),
            *("--dataset", "synthetic:1x28x28:10:train=2048:test=64", "--device", "cpu"),
            *("--headless", "--run-dir", str(run_dir)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert diverged.returncode == 3, diverged.stderr
    assert not (run_dir / "last.pt").exists()
    why = "(the run diverged before it saved one: loss became nan at step "
    for command in (["eval"], ["run", "--resume"]):
        refused = subprocess.run(
            [sys.executable, "-m", "cnntui", *command, str(run_dir)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "holds no last.pt" in refused.stderr and why in refused.stderr
        assert refused.stderr.endswith("or --set grad_clip=1.0)\n")


@pytest.mark.parametrize("command", [["eval"], ["run", "--headless", "--resume"]])
def test_a_folder_of_runs_names_its_newest_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, command: list[str]
) -> None:
    """`cnntui eval runs` said "runs holds no last.pt (a run writes it at the end of an epoch
    and when it stops)", as if runs/ were a run that had not saved yet."""
    for age, name in enumerate(["newest", "older", "oldest"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "last.pt").write_bytes(b"")
        os.utime(tmp_path / name / "last.pt", (1e9 - age, 1e9 - age))
    (tmp_path / "not-a-run").mkdir()
    code, _, err = run_cli([*command, str(tmp_path)], monkeypatch, capsys)
    assert code == 2
    assert err.endswith(
        f": it is a folder of 3 runs; name one, such as {tmp_path / 'newest'} (the newest)\n"
    )


@pytest.mark.parametrize("command", [["eval"], ["run", "--headless", "--resume"]])
def test_a_run_stopped_at_once_before_its_first_save_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, command: list[str]
) -> None:
    """A second Ctrl-C stops a run without saving last.pt, and its summary.json says so; eval
    and --resume said "(a run writes it at the end of an epoch and when it stops)", which it
    had not."""
    stopped = "SIGINT twice (stopped at once: last.pt not saved)"
    summary = {"status": "interrupted", "exit_code": 130, "message": stopped}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    code, _, err = run_cli([*command, str(tmp_path)], monkeypatch, capsys)
    assert code == 2
    assert "holds no last.pt" in err
    assert err.endswith(f" (the run was stopped before it saved one: {stopped})\n")
