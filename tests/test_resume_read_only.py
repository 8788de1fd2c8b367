"""`cnntui run --resume` of a run directory that cannot be written (a read-only mount, a
directory without write permission): refused before the set-up, in one line. Through the real
command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from cnntui import resume_path
from cnntui.config import RunConfig
from cnntui.engine.trainer import Trainer
from cnntui.errors import EXIT_USAGE, UsageError

DATA = "synthetic:1x28x28:10:train=256:test=64"


def cnntui(*args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cnntui", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder`, seen through a path this process cannot write: its permissions taken away,
    or, for root, whom permissions do not stop, a read-only bind mount of it."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    view = folder.with_name(folder.name + "-ro")
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", folder, view], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"root here cannot mount a read-only view: {mounted.stderr!r}")
    try:
        yield view
    finally:
        subprocess.run(["umount", view], check=True)


@contextmanager
def read_only_in_place(folder: Path) -> Iterator[None]:
    """`folder` itself made unwritable, as a remount or a chmod does to a run under way:
    its permissions taken away, or, for root, a read-only bind mount over it."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    subprocess.run(["mount", "--bind", folder, folder], check=True)
    try:
        remounted = subprocess.run(["mount", "-o", "remount,bind,ro", folder], capture_output=True)
        if remounted.returncode != 0:
            pytest.skip(f"root here cannot remount read-only: {remounted.stderr!r}")
        yield
    finally:
        subprocess.run(["umount", folder], check=True)


def short_run(run_dir: Path) -> None:
    first = cnntui(
        *("run", "lenet", "--dataset", DATA, "--epochs", "2", "-b", "64", "--max-steps", "2"),
        *("--device", "cpu", "--headless", "--run-dir", run_dir),
    )
    assert first.returncode == 0, first.stderr


def test_a_run_directory_made_read_only_after_the_check_is_refused_as_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made unwritable between the check and the open of events.jsonl (remounted while the
    checkpoint loaded): the open raised OSError, a traceback, where the check says one line."""
    run_dir = tmp_path / "run"
    short_run(run_dir)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.iterdir())
    check = resume_path.check_writable
    with ExitStack() as later:

        def checked_then_made_read_only(resume_from: Path, directory: Path) -> None:
            check(resume_from, directory)  # passes: the directory is writable still
            later.enter_context(read_only_in_place(directory))

        monkeypatch.setattr(resume_path, "check_writable", checked_then_made_read_only)
        resumed = Trainer(RunConfig(), resume_from=run_dir, resume_overrides={"max_steps": 4})
        with pytest.raises(UsageError) as refused:
            resumed.setup()
        with pytest.raises(UsageError) as by_the_check:
            check(run_dir, run_dir)

    assert str(refused.value) == str(by_the_check.value)
    assert str(refused.value).startswith(f"--resume {run_dir}: cannot write in {run_dir} (")
    assert refused.value.exit_code == EXIT_USAGE
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.iterdir()) == before


def test_a_read_only_run_directory_is_refused_before_the_set_up(tmp_path: Path) -> None:
    """The resume opened events.jsonl for appending in the set-up and died with OSError's
    traceback (exit 1): "Read-only file system: '…/events.jsonl'"."""
    run_dir = tmp_path / "run"
    short_run(run_dir)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.iterdir())

    with read_only(run_dir) as view:
        resumed = cnntui("run", "--resume", view, "--max-steps", "4", "--headless")
        evaluated = cnntui("eval", view, "--json")

    assert resumed.returncode == 2, resumed.stderr
    assert resumed.stderr.startswith(f"cnntui: error: --resume {view}: cannot write in {view} (")
    assert resumed.stderr.count("\n") == 1, resumed.stderr
    assert f"`cnntui eval {view}` reads it as it is" in resumed.stderr
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.iterdir()) == before
    # What the message offers works there.
    assert evaluated.returncode == 0, evaluated.stderr
