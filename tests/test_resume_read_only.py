"""`cnntui run --resume` of a run directory that cannot be written (a read-only mount, a
directory without write permission): refused before the set-up, in one line. Through the real
command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

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


def test_a_read_only_run_directory_is_refused_before_the_set_up(tmp_path: Path) -> None:
    """The resume opened events.jsonl for appending in the set-up and died with OSError's
    traceback (exit 1): "Read-only file system: '…/events.jsonl'"."""
    run_dir = tmp_path / "run"
    first = cnntui(
        *("run", "lenet", "--dataset", DATA, "--epochs", "2", "-b", "64", "--max-steps", "2"),
        *("--device", "cpu", "--headless", "--run-dir", run_dir),
    )
    assert first.returncode == 0, first.stderr
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
