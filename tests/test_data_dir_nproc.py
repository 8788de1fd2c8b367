"""A data set problem gets the same outcome with and without `--nproc N`: a `--data-dir` that
holds no copy is passed over with the same warning (the data read from the next place), and a
data set found nowhere fails with the same one message and exit code 1, leaving nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cnntui_command import cnntui
from test_data_bundle import write_mnist


def run(tmp_path: Path, *flags: object) -> tuple[int, str, str]:
    """A short MNIST run on 2 ranks or 1: its exit code, its warning lines, the rest of its
    stderr."""
    common = ("run", "lenet", "--dataset", "mnist", "--data-dir", tmp_path / "empty", "-b", "8")
    out = cnntui(*common, "--max-steps", "2", "--device", "cpu", "--headless", *flags)
    lines = out.stderr.splitlines(keepends=True)
    warnings = [line.rstrip("\n") for line in lines if line.startswith("cnntui: warning: ")]
    rest = "".join(line for line in lines if not line.startswith("cnntui: warning: "))
    assert "warning" not in out.stdout  # plain lines put warnings on stderr
    return out.returncode, "\n".join(warnings), rest


@pytest.fixture
def no_data_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("CNNTUI_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("CNNTUI_DATA", raising=False)


def test_an_empty_data_dir_is_passed_over_alike(tmp_path, no_data_anywhere, monkeypatch) -> None:
    write_mnist(tmp_path / "copy")
    monkeypatch.setenv("CNNTUI_DATA", str(tmp_path / "copy"))
    runs = ("--runs-root", tmp_path / "runs")
    single = run(tmp_path, *runs)
    assert single == (
        0,
        f"cnntui: warning: --data-dir {tmp_path / 'empty'} holds no MNIST; it was read from "
        f"{tmp_path / 'copy'}",
        "",
    )
    assert run(tmp_path, *runs, "--nproc", "2") == single


def test_a_data_set_found_nowhere_fails_alike(tmp_path, no_data_anywhere) -> None:
    runs = tmp_path / "runs"
    single = run(tmp_path, "--runs-root", runs)
    assert single[0] == 1 and single[2].startswith("cnntui: error: MNIST not found. Looked in:")
    assert run(tmp_path, "--runs-root", runs, "--nproc", "2") == single
    assert not runs.exists()
