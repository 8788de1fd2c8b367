"""`cnntui run --resume` on the real Fashion-MNIST, through the real command: unsetting what the
first run set (`--set KEY=none`), and a later last.pt kept when best.pt is resumed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnntui.engine.checkpoint import load_checkpoint

FMNIST = Path("/usr/share/datasets/fashion-mnist")
# 60,000 images in batches of 4,096: 15 steps, the shortest whole epoch of the real data set.
ONE_EPOCH = ["--epochs", "1", "-b", "4096", "--device", "cpu"]

pytestmark = pytest.mark.slow


def cnntui(*args: object) -> subprocess.CompletedProcess:
    assert FMNIST.is_dir(), "apt-get install dataset-fashion-mnist (CI's .ci/run does)"
    command = [sys.executable, "-m", "cnntui", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_max_steps_and_grad_clip_set_by_the_first_run_are_unset_with_none(tmp_path) -> None:
    """A run stopped by --max-steps could only be resumed with a larger --max-steps, and
    `--set max_steps=none` was refused: None could not be typed."""
    run_dir = tmp_path / "run"
    first = cnntui(
        *("run", "lenet", *ONE_EPOCH, "--max-steps", "2", "--set", "grad_clip=1"),
        *("--headless", "--run-dir", run_dir),
    )
    assert first.returncode == 0, first.stderr

    refused = cnntui("run", "--resume", run_dir, "--headless")
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        "add --max-steps N with N over 2 to train it for longer, "
        "or --set max_steps=none to train to the end of its epochs"
    )

    resumed = cnntui(
        "run", "--resume", run_dir, "--set", "max_steps=none", "--set", "grad_clip=None", "--json"
    )
    assert resumed.returncode == 0, resumed.stderr
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    started = events[0]
    assert started["start_step"] == 2
    assert (started["config"]["max_steps"], started["config"]["grad_clip"]) == (None, None)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["steps"] == started["steps_per_epoch"] == 15  # the whole epoch, not 2
    assert json.loads((run_dir / "config.json").read_text())["max_steps"] is None
    assert load_checkpoint(run_dir)["config"]["grad_clip"] is None


def test_resuming_best_pt_keeps_the_later_last_pt(tmp_path) -> None:
    """The resumed run's first save replaced the later last.pt without a word; then a warning
    said to copy it, but a stop (the natural answer to the warning) saved over it too."""
    run_dir = tmp_path / "run"
    epoch = cnntui("run", "lenet", *ONE_EPOCH, "--headless", "--run-dir", run_dir)
    assert epoch.returncode == 0, epoch.stderr
    assert load_checkpoint(run_dir / "best.pt")["step"] == 15
    # Two steps into a second epoch: last.pt is now later than best.pt.
    on = cnntui("run", "--resume", run_dir, "--epochs", "2", "--max-steps", "17", "--headless")
    assert on.returncode == 0, on.stderr
    assert "kept as" not in on.stdout  # resuming last.pt replaces nothing newer
    later = load_checkpoint(run_dir / "last.pt")
    assert later["step"] == 17

    branch = cnntui(
        *("run", "--resume", run_dir / "best.pt", "--epochs", "2", "--max-steps", "16"),
        "--headless",
    )
    assert branch.returncode == 0, branch.stderr
    kept = run_dir / "last-step17.pt"
    note = (
        f"resuming from best.pt at step 15: the later last.pt (step 17) is kept as {kept} "
        "(--resume it to go back to it)"
    )
    assert f"info: {note}" in branch.stdout.splitlines()
    logged = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert note in [e["message"] for e in logged if e["event"] == "log"]
    assert load_checkpoint(run_dir / "last.pt")["step"] == 16  # the branch's own
    kept_state = load_checkpoint(kept)
    assert kept_state["step"] == 17
    assert all(kept_state["model"][name].equal(tensor) for name, tensor in later["model"].items())

    back = cnntui("run", "--resume", kept, "--epochs", "2", "--max-steps", "18", "--headless")
    assert back.returncode == 0, back.stderr
    assert load_checkpoint(run_dir / "last.pt")["step"] == 18
