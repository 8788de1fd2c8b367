"""The dashboard at the small and odd sizes an SSH session can have: nothing cut without a way
to reach it, nothing off screen."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import live_app, replay_app, screen_text
from rich.text import Text
from scripted_run import FakeTrainer, failing_events, until
from textual.containers import Vertical

from cnntui.tui.app import Dashboard
from cnntui.tui.screens import HelpScreen, QuitScreen, help_text
from cnntui.tui.sources import FileSource
from cnntui.tui.widgets.header import RunHeader

# (columns, rows): the classic default, a short one, a tiny one, a very wide and short one.
SIZES = [(80, 24), (80, 12), (60, 20), (40, 12), (200, 15), (40, 8)]


def help_lines(read_only: bool) -> list[str]:
    """The first and the last words of every line of the help (a line may wrap in between)."""
    lines = Text.from_markup(help_text(read_only)).plain.splitlines()
    return [part for line in lines if line.strip() for part in (line[:20], line.split()[-1])]


async def scrolled_help_text(app, pilot) -> str:
    """Every screen the help shows from its top to its bottom, scrolled a page at a time."""
    await pilot.press("question_mark")
    assert isinstance(app.screen, HelpScreen)
    seen = [screen_text(app)]
    for _ in range(20):
        await pilot.press("pagedown")
        await pilot.pause()
        seen.append(screen_text(app))
    return "\n".join(seen)


@pytest.mark.parametrize("live", [False, True], ids=["watch", "live run"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_help_line_can_be_reached(
    size: tuple[int, int], live: bool, held_trainer: FakeTrainer
) -> None:
    app = live_app(held_trainer) if live else replay_app()
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.state.step >= 100)
        shown = await scrolled_help_text(app, pilot)
    missing = [part for part in help_lines(read_only=not live) if part not in shown]
    assert not missing, shown


@asynccontextmanager
async def resized_mid_run(trainer: FakeTrainer, size: tuple[int, int]):
    """A live run opened at 120x40 whose window is made `size` once it trains."""
    app = live_app(trainer)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.resize_terminal(*size)
        await pilot.pause(0.2)
        yield app, pilot


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_footer_always_shows_help_and_quit(
    size: tuple[int, int], held_trainer: FakeTrainer
) -> None:
    async with resized_mid_run(held_trainer, size) as (app, pilot):
        footer = screen_text(app).splitlines()[-1]
        assert "? Help" in footer and "q Quit" in footer, footer
        await pilot.press("p")  # Pause becomes Resume: the footer is built again
        await pilot.pause(0.2)
        footer = screen_text(app).splitlines()[-1]
        assert "? Help" in footer and "q Quit" in footer, footer


PANES = ("#loss", "#accuracy", "#layers", "#confusion", "#device", "#throughput", "#log")
PANE_SIZES = [(80, 24), (100, 30), (60, 20), (40, 12), (200, 15), (80, 14), (120, 30)]


def shown(widget) -> bool:
    return all(node.display for node in widget.ancestors_with_self if hasattr(node, "display"))


async def cut_panes(app, pilot) -> list[str]:
    """The panes of the view on screen that stay cut off even when scrolled into view."""
    cut = []
    for selector in PANES:
        pane = app.query_one(selector)
        if not shown(pane):
            continue
        pane.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        geometry = app.screen.find_widget(pane)
        if geometry.region.intersection(geometry.clip) != geometry.region:
            cut.append(selector)
    return cut


# A failed run's header has a third line, the error, from 21 rows up: a row less for the panes.
FAILED_RUN_SIZES = [(80, 24), (80, 14), (200, 15), (120, 30), (80, 21), (80, 20)]
RUNS = [("finished", size) for size in PANE_SIZES] + [("failed", s) for s in FAILED_RUN_SIZES]


@pytest.mark.parametrize(
    ("run", "size"), RUNS, ids=lambda p: p if isinstance(p, str) else "x".join(map(str, p))
)
async def test_every_pane_of_every_view_can_be_seen_whole(run: str, size: tuple[int, int]) -> None:
    app = replay_app(failing_events() if run == "failed" else None)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for view in ("1", "2", "3", "4", "c"):
            await pilot.press(view)
            await pilot.pause()
            assert not await cut_panes(app, pilot), (view, screen_text(app))


@pytest.mark.parametrize("size", [(80, 14), (200, 15)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_short_terminals_show_both_charts_side_by_side(size: tuple[int, int]) -> None:
    app = replay_app()
    async with app.run_test(size=(80, 24)) as pilot:  # stacked: room for two, one above
        await pilot.pause()
        await pilot.resize_terminal(*size)
        await pilot.pause(0.2)
        screen = screen_text(app)
    chart_titles = [line for line in screen.splitlines() if "Loss" in line]
    assert len(chart_titles) == 1 and "Accuracy %" in chart_titles[0], screen


@pytest.mark.parametrize("size", [(40, 12), (80, 14), (200, 15)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_short_terminal_gives_a_failed_runs_error_the_state_line(
    size: tuple[int, int],
) -> None:
    app = replay_app(failing_events())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        lines = screen_text(app).splitlines()
        below_the_header = app.query_one("#dashboard").size.height
    assert lines[1].split()[:3] == ["✖", "FAILED", "OutOfMemoryError:"], lines[1]
    assert "1 Charts" in lines[2]  # the view bar right under a two-line header
    assert below_the_header == size[1] - 4  # the header's two lines, the view bar, the footer
    if size[0] == 40:
        assert lines[1].rstrip().endswith("…"), lines[1]  # the log has it whole
    if size[0] == 200:  # room to spare: where it failed, too
        assert lines[1].split()[-4:] == ["epoch", "1/3", "step", "50/300"], lines[1]


CUDA_ERROR = (
    "RuntimeError: CUDA error: out of memory\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, so the "
    "stacktrace below might be incorrect.\n"
    "For debugging consider passing CUDA_LAUNCH_BLOCKING=1."
)


@pytest.mark.parametrize("size", [(80, 14), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_several_line_error_shows_its_first_line_in_the_header(
    size: tuple[int, int],
) -> None:
    events = failing_events()
    events[-1] = replace(events[-1], error=CUDA_ERROR)
    app = replay_app(events)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.state.failure is not None)
        await pilot.pause()
        lines = screen_text(app).splitlines()
        header_rows = app.query_one(RunHeader).size.height
        below_the_header = app.query_one("#dashboard").size.height
    short = size[1] < 21
    error_line = 1 if short else 2
    assert "RuntimeError: CUDA error: out of memory" in lines[error_line], lines[:4]
    assert "1 Charts" in lines[error_line + 1], lines[:4]  # the view bar right under it
    assert not any("CUDA kernel errors" in line for line in lines), lines[:4]
    assert header_rows == error_line + 1
    assert below_the_header == size[1] - header_rows - 2  # the view bar and the footer
    if short:  # the row kept for epoch and step
        assert lines[1].split()[-4:] == ["epoch", "1/3", "step", "50/300"], lines[1]


async def test_a_failed_runs_error_moves_with_the_terminals_height() -> None:
    app = replay_app(failing_events())
    async with app.run_test(size=(80, 24)) as pilot:
        error = "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
        for height, error_line in ((24, 2), (12, 1), (24, 2)):
            await pilot.resize_terminal(80, height)

            def moved(error_line: int = error_line) -> bool:
                lines = screen_text(app).splitlines()
                return error in lines[error_line] and "1 Charts" in lines[error_line + 1]

            # A loaded machine may take longer than any fixed pause to lay the screen out again.
            assert await until(pilot, moved, timeout=10), screen_text(app).splitlines()[:3]


@pytest.mark.parametrize("width", [40, 60, 80, 100], ids=lambda w: f"{w} columns")
async def test_the_header_drops_whole_facts_rather_than_cutting_one(
    width: int, held_trainer: FakeTrainer
) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=(width, 24)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.pause(0.2)
        identity, progress = screen_text(app).splitlines()[:2]
    assert "…" not in identity + progress, (identity, progress)
    assert "20231114-221320-lenet-fmnist" in identity
    assert "RUNNING  epoch 1/3  step 100/300" in progress


@pytest.mark.parametrize("resized", [False, True], ids=["opened", "resized under it"])
@pytest.mark.parametrize(
    "size", [(80, 24), (40, 12), (80, 10), (60, 8)], ids=lambda s: f"{s[0]}x{s[1]}"
)
async def test_the_quit_question_fits_with_both_answers(
    size: tuple[int, int], resized: bool, held_trainer: FakeTrainer
) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=(120, 40) if resized else size) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.resize_terminal(*size)
        await pilot.pause(0.1)
        screen = screen_text(app)
        box = app.screen.find_widget(app.screen.query_one(Vertical))
        assert box.region.intersection(box.clip) == box.region, screen  # the frame is whole
        assert "Stop and quit (y)" in screen and "Keep training (n)" in screen, screen


@pytest.mark.parametrize("width", [40, 60, 80], ids=lambda w: f"{w} columns")
async def test_the_view_bar_names_every_tab(width: int) -> None:
    app = replay_app()
    async with app.run_test(size=(width, 24)) as pilot:
        await pilot.pause()
        views = screen_text(app).splitlines()[2]
    for tab in ("1 Charts", "2 Layers", "3 System", "4 Log"):
        assert tab in views, views


@pytest.mark.parametrize("size", [(60, 14), (40, 12), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_chart_subtitles_show_whole_values(
    size: tuple[int, int], held_trainer: FakeTrainer
) -> None:
    async with resized_mid_run(held_trainer, size) as (app, _):
        screen = screen_text(app)
    bottoms = [line for line in screen.splitlines() if "╰" in line and "train" in line]
    assert bottoms and not any("…" in line for line in bottoms), screen


@pytest.mark.parametrize(("view", "below"), [("1", "Accuracy %"), ("3", "waiting on data")])
async def test_what_is_below_the_fold_can_be_reached_without_a_mouse(view: str, below: str) -> None:
    app = replay_app()
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.press(view)
        await pilot.pause()
        assert below not in screen_text(app)  # a 40x12 terminal has no room for it
        for _ in range(4):  # tab to whatever is cut off, then its end
            await pilot.press("tab", "end")
            await pilot.pause()
            if below in screen_text(app):
                break
        assert below in screen_text(app), screen_text(app)


async def test_resizing_down_to_one_cell_and_back_mid_run(held_trainer: FakeTrainer) -> None:
    """Every view, the help and the quit question through tiny sizes: no exception, and the run
    is drawn again at a usable size (run_test raises whatever the app raised)."""
    app = live_app(held_trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        for keys in (["1"], ["2"], ["3"], ["4"], ["c"], ["c", "question_mark"], ["escape", "q"]):
            await pilot.press(*keys)
            for size in ((1, 1), (2, 2), (10, 3), (300, 5), (12, 60), (40, 12), (80, 24)):
                await pilot.resize_terminal(*size)
                await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n", "1")
        await pilot.pause(0.2)
        assert "RUNNING" in screen_text(app) and "Accuracy %" in screen_text(app)


async def test_watch_waiting_for_a_run_keeps_its_clock_at_40_columns(tmp_path: Path) -> None:
    run_dir = tmp_path / "a-run-directory-with-a-long-name"
    run_dir.mkdir()
    app = Dashboard(FileSource(run_dir), watch_path=run_dir, poll_interval=0.05)
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause(0.1)
        progress = screen_text(app).splitlines()[1]
    assert "WAITING" in progress and "waited 0:0" in progress, progress
