"""`cnntui run --nproc N` when the run cannot go on: a --resume refused before anything is
launched or written, and rank 0 failing to write its run directory, told as one error line.
(Which rank the launcher blames is tested in test_distributed.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_TIMEOUT = 240  # two torch imports and a rendezvous on a busy 2-core machine


def loose_checkpoint(tmp_path: Path) -> Path:
    """A checkpoint copied out of its run, beside files that are not a run's."""
    folder = tmp_path / "home"
    folder.mkdir()
    torch.save({"model": {}, "config": {"model": "lenet"}, "step": 3}, folder / "copy.pt")
    (folder / "notes.txt").write_text("mine\n")
    return folder / "copy.pt"


def cnntui(*args: object, wrapper: tuple[str, ...] = (), **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "CNNTUI_DIST_TIMEOUT": "30"}
    env.pop("WORLD_SIZE", None)
    popen = {"stdout": subprocess.PIPE, **popen}
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "cnntui", *map(str, args)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        timeout=LAUNCH_TIMEOUT,
        **popen,
    )


@pytest.fixture(scope="module")
def run_at_its_max_steps(tmp_path_factory) -> Path:
    """A one-step run that has reached its max_steps, which a resume refuses: made once (each
    run is seconds of torch's start-up); a test resumes its own copy."""
    run_dir = tmp_path_factory.mktemp("made") / "run"
    first = cnntui(
        *("run", "mlp", "--dataset", "synthetic:1x28x28:10:train=64:test=64", "-b", "64"),
        *("--max-steps", "1", "--device", "cpu", "--headless", "--run-dir", run_dir),
    )
    assert first.returncode == 0, first.stderr
    return run_dir


def test_a_loose_checkpoint_is_refused_before_the_launch_as_without_nproc(tmp_path) -> None:
    """The ranks refused it, each with the same line, after the launcher had said "rank 1 exited
    with code 2"; on a terminal, launch.log was first written into the checkpoint's folder."""
    checkpoint = loose_checkpoint(tmp_path)
    before = sorted(p.name for p in checkpoint.parent.iterdir())
    single = cnntui("run", "--resume", checkpoint, "--headless")
    assert single.returncode == 2
    assert single.stderr.startswith(f"cnntui: error: --resume {checkpoint}: ")
    assert "is not a run directory" in single.stderr

    headless = cnntui("run", "--resume", checkpoint, "--nproc", "2", "--headless")
    assert (headless.returncode, headless.stderr) == (2, single.stderr)

    # On a terminal the launching process shows the dashboard, and wrote launch.log first.
    controller, terminal = os.openpty()
    try:
        dashboard = cnntui(
            *("run", "--resume", checkpoint, "--nproc", "2", "--exit-on-finish"),
            stdin=terminal,
            stdout=terminal,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert (dashboard.returncode, dashboard.stderr) == (2, single.stderr)
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == before


def test_a_resume_refused_by_its_checkpoint_is_refused_before_the_launch(
    tmp_path, run_at_its_max_steps
) -> None:
    """Every rank loaded the checkpoint and refused it, each with the same line."""
    run_dir = shutil.copytree(run_at_its_max_steps, tmp_path / "run")
    files = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    single = cnntui("run", "--resume", run_dir, "--headless")
    assert single.returncode == 2
    assert single.stderr.startswith("cnntui: error: the run has already reached its max_steps")
    launched = cnntui("run", "--resume", run_dir, "--nproc", "2", "--headless")
    assert (launched.returncode, launched.stderr) == (2, single.stderr)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == files


def test_rank_0_failing_to_write_its_run_log_is_one_error_line_and_exit_1(tmp_path) -> None:
    """Rank 0 exited 1 and the other rank, stopped with it, 130. The launcher blamed whichever
    it saw first ("rank 1 exited with code 130", exit 130: an interrupted run, where the run
    had failed), and added its own line and torch's to rank 0's error."""
    run_dir = tmp_path / "run"
    # Files of at most 16 KiB (bash counts ulimit -f in KiB), and writes past that fail with
    # EFBIG, not the SIGXFSZ that kills: run_started (about 5.5 KB) fits, the step events of
    # the first batches fill the rest, and the launcher writes no file.
    limited = ("bash", "-c", 'trap "" XFSZ; ulimit -f 16; exec "$@"', "limited")
    out = cnntui(
        *("run", "lenet", "--epochs", "1", "-b", "16", "--device", "cpu"),
        *("--dataset", "synthetic:1x28x28:10:train=1024:test=64", "--set", "log_interval=1e-9"),
        *("--headless", "--nproc", "2", "--run-dir", run_dir),
        wrapper=limited,
    )
    assert out.returncode == 1, out.stderr
    (line,) = out.stderr.splitlines()
    assert line.startswith(f"cnntui: error: file too large writing {run_dir / 'events.jsonl'}")
    assert "failed at step" in out.stdout and "interrupted" not in out.stdout


def test_the_launcher_checks_a_resume_without_reading_its_weights(
    tmp_path, run_at_its_max_steps
) -> None:
    """The launcher loaded the whole checkpoint (weights, optimizer state) to check the resume,
    and the dashboard's launcher child loaded it again: a large model's worth of memory each,
    for a config and a step."""
    run_dir = shutil.copytree(run_at_its_max_steps, tmp_path / "run")
    # The launcher's peak memory (KiB) as it refuses the resume (the run is at its max_steps).
    peak = (
        sys.executable,
        "-c",
        "import resource, subprocess, sys\n"
        "code = subprocess.call(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n",
    )

    def refused_peak_kib() -> int:
        out = cnntui("run", "--resume", run_dir, "--nproc", "2", "--headless", wrapper=peak)
        error, kib = out.stderr.splitlines()
        assert out.returncode == 2 and "already reached its max_steps" in error
        return int(kib)

    small = refused_peak_kib()
    state = torch.load(run_dir / "last.pt", weights_only=True)
    state["model"]["padding"] = torch.ones(128 * 1024 * 1024)  # 512 MiB of weights
    torch.save(state, run_dir / "last.pt")
    assert refused_peak_kib() - small < 256 * 1024  # it was 396 MiB more
