"""The real `cnntui run` in tmux windows of the sizes SSH sessions have, resized mid-run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tmux_terminal import STARTUP_TIMEOUT, Terminal, cnntui

pytestmark = pytest.mark.e2e


@pytest.fixture
def terminal(tmp_path: Path):
    term = Terminal(tmp_path, width=80, height=24)  # the classic default
    yield term
    term.close()


def resize(terminal: Terminal, width: int, height: int) -> None:
    terminal.tmux("resize-window", "-t", "e2e", "-x", str(width), "-y", str(height))


def test_a_run_resized_from_80x24_down_to_tiny_and_back(terminal: Terminal, tmp_path: Path) -> None:
    terminal.start(cnntui("run", "lenet", "--dataset", "synthetic", "--epochs", "10000"))
    terminal.wait_for("RUNNING", "Loss", "Accuracy %", timeout=STARTUP_TIMEOUT)
    # 80x24: every group of panes has its tab, and each shows something.
    for key, shows in (("2", "Conv2d"), ("3", "ex/s now"), ("4", "started lenet"), ("1", "Loss")):
        terminal.press(key)
        terminal.wait_for(shows)

    resize(terminal, 40, 12)  # the way out and the way to the help stay on the footer
    terminal.wait_for("? Help q Quit")
    terminal.press("?")
    terminal.wait_for("p  pause / resume")
    terminal.press("PageDown", "PageDown", "PageDown", "PageDown")
    terminal.wait_for("see them.")  # the end of the help's last line, below the fold at 12 rows
    terminal.press("Escape")

    resize(terminal, 200, 15)  # short and wide: the two charts side by side
    screen = terminal.wait_for("Accuracy %")
    assert any("Loss" in line and "Accuracy %" in line for line in screen.splitlines()), screen

    for width, height in ((10, 5), (1, 1), (300, 8), (30, 40), (2, 2), (80, 10)):
        resize(terminal, width, height)
        terminal.press("1", "2", "3", "4", "c", "c")
    resize(terminal, 80, 24)
    terminal.press("1")
    terminal.wait_for("RUNNING", "Loss")  # alive, and drawing again at the full size
    terminal.press("q")
    terminal.wait_for("Stop training and quit?")
    terminal.press("y")
    assert terminal.exit_code() == 130
    assert "Traceback" not in terminal.screen()


def test_watch_in_a_40x12_window(terminal: Terminal, tmp_path: Path, recorded_runs: Path) -> None:
    shutil.copytree(recorded_runs, tmp_path / "runs")
    terminal.width, terminal.height = 40, 12
    terminal.start(cnntui("watch"))
    terminal.wait_for("FINISHED", "? Help  q Quit", timeout=STARTUP_TIMEOUT)
    terminal.press("?")
    terminal.wait_for("Read-only")
    terminal.press("PageDown", "PageDown", "PageDown", "PageDown")
    terminal.wait_for("see them.")
    terminal.press("Escape")
    resize(terminal, 200, 15)
    screen = terminal.wait_for("Accuracy %")
    assert any("Loss" in line and "Accuracy %" in line for line in screen.splitlines()), screen
    terminal.press("q")
    assert terminal.exit_code() == 0
