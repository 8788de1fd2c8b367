"""The layer table: cells follow health, updates re-render only changed rows, long tables scroll."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from conftest import screen_text
from scripted_run import health, run_started, scripted_events, until

from cnntui.engine.events import LayerHealth, LayerStat, RunFinished
from cnntui.tui.app import Dashboard
from cnntui.tui.layer_health import rows_from_shapes
from cnntui.tui.sources import ListSource
from cnntui.tui.state import RunState
from cnntui.tui.widgets.layers import (
    COLUMN_INDEX,
    COLUMNS,
    LayerTable,
    health_words,
    narrowed,
    param_count,
    row_cells,
    shown_columns,
    spread_gaps,
    subtitle,
)

WIDE, NARROW = (160, 48), (80, 24)


def screen_lines(table: LayerTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


def count_row_renders(table: LayerTable) -> list[int]:
    """Each time the table turns a row's cells into a strip, one entry."""
    calls: list[int] = []
    real = table._strip

    def counting(cells, style):
        calls.append(1)
        return real(cells, style)

    table._strip = counting
    return calls


async def test_a_health_sample_rerenders_only_the_rows_whose_numbers_changed() -> None:
    app = Dashboard(ListSource(scripted_events()))
    async with app.run_test(size=WIDE) as pilot:
        table = app.query_one(LayerTable)
        assert await until(pilot, lambda: table.row_count == 12 and not app.state.active)
        await pilot.pause()
        renders = count_row_renders(table)
        sample = health(400, 0.0)
        sample.layers[2] = LayerStat("3", grad_norm=0.5, weight_norm=3.1, update_ratio=1e-4)
        app.state.apply([sample])
        table.update_from(app.state)  # a finished run's table follows at once
        await pilot.pause()
        assert table.cell("3", "grad").text == "0.5"
        row = next(line for line in screen_lines(table) if line.split()[:2] == ["3", "Conv2d"])
        assert "0.5" in row.split()
        assert len(renders) == 1  # layer 3's row; not the header, not the eleven others


async def test_columns_widen_for_numbers_longer_than_their_first_width() -> None:
    events = scripted_events()
    wide_value = LayerHealth(
        step=300, layers=[LayerStat("1", act_mean=-0.0012345, act_std=0.5)], time=events[-1].time
    )
    app = Dashboard(ListSource([*events, wide_value]))
    async with app.run_test(size=WIDE) as pilot:
        table = app.query_one(LayerTable)
        assert await until(pilot, lambda: app.state.health_step == 300)
        await pilot.pause()
        row = next(line for line in screen_lines(table) if line.split()[:2] == ["1", "Sigmoid"])
        assert "-0.00123" in row.split()  # whole: 8 cells in a column that started 6 wide


def live_lenet_health(events: list) -> LayerHealth:
    """Numbers as wide as a live LeNet's: negative means, tiny gradients, a dead layer (4)."""
    return LayerHealth(
        step=300,
        layers=[
            LayerStat(
                str(i), grad_norm=1.234e-4 if i % 2 else 0.01234, act_mean=-0.012345,
                act_std=0.123456, dead_fraction=1.0 if i == 4 else 0.5,
            )
            for i in range(12)
        ],
        time=events[-1].time,
    )  # fmt: skip


async def test_a_live_lenet_table_fits_a_120_column_terminal_without_scrolling_sideways() -> None:
    events = scripted_events()
    app = Dashboard(ListSource([*events, live_lenet_health(events)]))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(LayerTable)
        assert await until(pilot, lambda: app.state.health_step == 300)
        await pilot.pause()
        assert table.virtual_size.width <= table.scrollable_content_region.width
        header = screen_lines(table)[0].split()
        assert header[-2:] == ["dead", "status"]
        assert "-0.0123" in next(line for line in screen_lines(table) if line.split()[0] == "1")


@asynccontextmanager
async def live_lenet_table(size: tuple[int, int]):
    """A replayed LeNet run with a live run's health numbers, its layers view open at `size`."""
    events = scripted_events()
    app = Dashboard(ListSource([*events, live_lenet_health(events)]))
    async with app.run_test(size=size) as pilot:
        await pilot.press("2")  # the narrow layout's layers view
        table = app.query_one(LayerTable)
        assert await until(pilot, lambda: app.state.health_step == 300)
        await pilot.pause()
        yield app, table


@pytest.mark.parametrize("width", [50, 58, 66], ids=lambda w: f"{w} columns")
async def test_a_narrow_live_table_drops_columns_before_its_status(width: int) -> None:
    async with live_lenet_table((width, 24)) as (_, table):
        assert not table.show_horizontal_scrollbar
        lines = screen_lines(table)
        assert lines[0].split()[:3] == ["Layer", "Type", "Output"]
        assert lines[0].split()[-1] == "status"
        assert next(line for line in lines if line.split()[0] == "4").split()[-1] == "dead"


@pytest.mark.parametrize("width", [50, 66, 120], ids=lambda w: f"{w} columns")
async def test_a_table_that_leaves_out_columns_says_so(width: int) -> None:
    async with live_lenet_table((width, 40)) as (app, table):
        header = screen_lines(table)[0]
        hidden = sum(column.label not in header for column in COLUMNS)
        border = table.border_subtitle
        assert any(f" {border} ─" in line for line in screen_text(app).splitlines()), border
    if width == 120:  # the table fits: the subtitle is the step alone
        assert hidden == 0 and border == "step 300", border
    else:
        assert hidden > 0
        assert f"{hidden} column{'s' if hidden > 1 else ''} hidden" in border, border
        assert "widen the terminal" in border, border


async def test_the_help_explains_the_hidden_columns_the_border_counts() -> None:
    """The border says "N columns hidden"; the help, opened on that screen, says which go."""
    events = scripted_events()
    app = Dashboard(ListSource([*events, live_lenet_health(events)]))
    async with app.run_test(size=(50, 40)) as pilot:
        await pilot.press("2")
        assert await until(pilot, lambda: app.state.health_step == 300)
        await pilot.pause()
        assert "columns hidden" in app.query_one(LayerTable).border_subtitle
        await pilot.press("question_mark")
        shown = " ".join(screen_text(app).replace("█", " ").split())  # lines wrap at 50 columns
    assert "A narrow layer table hides columns, Params first" in shown, shown
    assert "(its border says how many): widen the terminal" in shown, shown


def test_the_subtitle_drops_the_step_then_the_hint_where_they_do_not_fit() -> None:
    full = "step 300 · 3 columns hidden · widen the terminal"
    assert subtitle("step 300", 3, len(full)) == full
    assert subtitle("step 300", 3, len(full) - 1) == "3 columns hidden · widen the terminal"
    assert subtitle("step 300", 1, 30) == "step 300 · 1 column hidden"
    assert subtitle("step 300", 3, 10) == "3 columns hidden"  # Textual's ellipsis cuts it
    assert subtitle("step 300", 0, 10) == "step 300"
    assert subtitle("", 0, 10) == ""


def test_columns_go_least_needed_first_and_layer_output_status_stay() -> None:
    widths = [5, 9, 8, 6, 6, 6, 6, 4, 7]  # 57 columns of cells, 10 gaps
    shown = [[COLUMNS[i].key for i in shown_columns(widths, room)] for room in (67, 66, 53, 46)]
    assert shown == [
        [column.key for column in COLUMNS],
        ["name", "type", "output", "grad", "act_mean", "act_std", "dead", "status"],
        ["name", "type", "output", "grad", "act_mean", "dead", "status"],
        ["name", "type", "output", "grad", "dead", "status"],
    ]
    assert shown_columns(widths, 10) == tuple(COLUMN_INDEX[k] for k in ("name", "output", "status"))
    # A dropped column takes its gap with it; the rest share out the room as before.
    kept = shown_columns(widths, 60)
    assert spread_gaps(widths, 60 + 3, kept) == [1, 1, 1, 0, 2, 2, 2, 1, 1, 1]


def test_spare_room_goes_to_the_gaps_between_numbers_first() -> None:
    widths = [5, 9, 8, 6, 6, 6, 6, 4, 7]  # 57 columns of cells, 10 gaps
    assert spread_gaps(widths, 57 + 10) == [1] * 10
    assert spread_gaps(widths, 57 + 13) == [1, 1, 1, 1, 2, 2, 2, 1, 1, 1]
    assert spread_gaps(widths, 200) == [2] * 10
    assert spread_gaps(widths, 20) == [1] * 10  # no room: one space each, and it scrolls


async def test_a_long_table_scrolls_under_a_fixed_header() -> None:
    started = run_started()
    layers = [
        {"name": f"block{i}.conv", "type": "Conv2d", "output_shapes": [[1, 64, 8, 8]],
         "params": 36928, "is_leaf": True, "call_index": 0}
        for i in range(60)
    ]  # fmt: skip
    started.shapes = {**started.shapes, "rows": layers}
    app = Dashboard(ListSource([started]))
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("2")  # the narrow layout's layers view
        table = app.query_one(LayerTable)
        assert await until(pilot, lambda: table.row_count == 60)
        table.focus()
        await pilot.press("end")
        await pilot.pause()
        lines = screen_lines(table)
        assert lines[0].split()[:3] == ["Layer", "Type", "Output"]
        assert any(line.split()[:1] == ["block59.conv"] for line in lines)
        assert not any(line.split()[:1] == ["block0.conv"] for line in lines)
        await pilot.press("home")
        await pilot.pause()
        assert screen_lines(table)[1].split()[:1] == ["block0.conv"]


async def test_a_table_taller_than_its_pane_leaves_room_for_the_scrollbar() -> None:
    # The README's 116x34: twelve rows and a header in a pane nine lines high, so the vertical
    # scrollbar takes two columns; gaps shared out before it showed pushed the table under it
    # and a horizontal scrollbar hid a row.
    app = Dashboard(ListSource([]))
    async with app.run_test(size=(116, 34)) as pilot:
        await pilot.pause()
        table = app.query_one(LayerTable)
        app.state.apply(scripted_events())  # as `watch` gets them: after the layout is done
        table.update_from(app.state)
        await pilot.pause()
        assert table.show_vertical_scrollbar
        assert not table.show_horizontal_scrollbar
        assert table.virtual_size.width <= table.scrollable_content_region.width


async def test_a_finished_run_draws_the_same_table_followed_live_or_replayed() -> None:
    events = scripted_events()
    prefix = scripted_events(finish=False, upto_step=100)
    # A mean that was briefly long widens its column while the run is followed live.
    long = LayerHealth(
        step=100, layers=[LayerStat("1", act_mean=-0.0012345, act_std=0.5)], time=prefix[-1].time
    )
    followed = Dashboard(ListSource([*prefix, long]))
    replayed = Dashboard(ListSource([*prefix, long, *events[len(prefix) :]]))
    async with followed.run_test(size=WIDE) as pilot:
        table = followed.query_one(LayerTable)
        assert await until(pilot, lambda: table.cell("1", "act_mean").text == "-0.00123")
        followed.state.apply(events[len(prefix) :])  # the rest of the run, to its end
        table.update_from(followed.state)
        await pilot.pause()
        followed_lines = screen_lines(table)
    async with replayed.run_test(size=WIDE) as pilot:
        table = replayed.query_one(LayerTable)
        assert await until(pilot, lambda: table.row_count == 12 and not replayed.state.active)
        await pilot.pause()
        assert screen_lines(table) == followed_lines


def test_tied_weights_are_counted_once_in_the_dashboard_table() -> None:
    """The layer pane showed a tied layer's shared tensor again: its Params column added up to
    more than the header's parameter count, where `cnntui shapes` counts each tensor once."""
    from torch import nn

    from cnntui.shapes.trace import trace_model

    first, second = nn.Linear(10, 10, bias=False), nn.Linear(10, 10)
    second.weight = first.weight
    rows = rows_from_shapes(trace_model(nn.Sequential(first, second), (1, 10)).to_dict())
    params = [row_cells(row)[3].text for row in rows]
    assert params == ["100", "10 + tied"]
    only_tied = nn.Linear(10, 10, bias=False)
    only_tied.weight = first.weight
    rows = rows_from_shapes(trace_model(nn.Sequential(first, only_tied), (1, 10)).to_dict())
    assert [row_cells(row)[3].text for row in rows] == ["100", "tied"]


def resnet18_events() -> list:
    """A replayed resnet18 run (as `cnntui run resnet18 --dataset synthetic:3x32x32:10` traces
    it, at 96x96) with a live run's health numbers on every layer."""
    from cnntui.shapes.trace import trace_model
    from cnntui.zoo import build_model

    started = run_started()
    started.shapes = trace_model(build_model("resnet18", 3, 10).module, (1, 3, 96, 96)).to_dict()
    rows = rows_from_shapes(started.shapes)
    stats = [
        LayerStat(row.name, grad_norm=0.0123, act_mean=-0.0123, act_std=0.456, dead_fraction=0.12)
        for row in rows
    ]
    return [started, LayerHealth(step=100, layers=stats, time=started.time + 10)]


async def test_resnet18_shows_its_parameter_counts_at_120_columns() -> None:
    """Its one AdaptiveAvgPool2d made Type 17 wide, and the Params column went at 120x40, where
    the README says columns go only under about 70. Type narrows first, the long name cut."""
    app = Dashboard(ListSource(resnet18_events()))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(LayerTable)
        assert await until(pilot, lambda: app.state.health_step == 100)
        await pilot.pause()
        lines = screen_lines(table)
        assert all(column.label in lines[0] for column in COLUMNS), lines[0]
        assert "hidden" not in table.border_subtitle
        assert not table.show_horizontal_scrollbar
        assert table.virtual_size.width <= table.scrollable_content_region.width
        rows = {line.split()[0]: line.split() for line in lines[1:] if line.strip()}
        assert rows["0.0"][1:4] == ["Conv2d", "64×48×48", "9,472"]
        assert rows["0.0"][4:] == ["0.0123", "-0.0123", "0.456", "12%", "ok"]
        table.scroll_to(y=table.row_count, animate=False)
        await pilot.pause()
        rows = {line.split()[0]: line.split() for line in screen_lines(table)[1:] if line.strip()}
        assert rows["4.1.conv2"][1:4] == ["Conv2d", "512×3×3", "2.36M"]  # 2,359,296
        assert rows["5"][1] == "AdaptiveAv…"  # cut where it would hide a column
        assert rows["7"][1:4] == ["Linear", "10", "5,130"]


def test_a_million_parameters_and_more_are_counted_in_millions() -> None:
    assert [param_count(n) for n in (0, 9_472, 999_999)] == ["0", "9,472", "999,999"]
    assert [param_count(n) for n in (2_359_296, 26_218_496)] == ["2.36M", "26.2M"]


def test_type_narrows_before_any_column_goes_and_no_further_than_its_common_names() -> None:
    widths = [9, 17, 8, 9, 6, 6, 6, 4, 7]  # resnet18's: 72 columns of cells, 10 gaps
    type_width = [narrowed(widths, room)[COLUMN_INDEX["type"]] for room in (82, 80, 76, 70)]
    assert type_width == [17, 15, 11, 11]
    assert shown_columns(narrowed(widths, 76), 76) == tuple(range(len(COLUMNS)))
    assert narrowed([5, 9, 8, 6, 6, 6, 6, 4, 7], 40)[COLUMN_INDEX["type"]] == 9  # LeNet's stays


def short_run(health_every: int, upto_step: int, finish: bool, **config) -> list:
    """A scripted one-epoch run of 16 steps (synthetic LeNet's), or of 100 with `finish` off."""
    steps = 16 if finish else 100
    events = [
        e
        for e in scripted_events(epochs=1, steps_per_epoch=steps, window=2, finish=finish)
        if not isinstance(e, LayerHealth) and getattr(e, "step", 0) <= upto_step
    ]
    events[0].config = {"lr": 0.9, "health_every": health_every, **config}
    return events


def health_subtitle(events: list) -> str:
    state = RunState()
    state.apply(events)
    return health_words(state)


def test_before_its_first_health_sample_the_table_says_when_it_comes() -> None:
    """A run shorter than health_every (50) left the health columns empty, without a word why."""
    assert health_subtitle(short_run(50, 16, finish=True)) == (
        "no health: run shorter than health_every=50"
    )
    assert health_subtitle(short_run(50, 8, finish=False)) == "health at step 50"
    assert health_subtitle(short_run(50, 8, finish=False, max_steps=40)) == (
        "no health: run shorter than health_every=50"
    )
    assert health_subtitle(short_run(0, 8, finish=False)) == "health off (health_every=0)"
    # 100 steps, diverged at step 8: long enough, but it ended first.
    ended = RunFinished(status="diverged", exit_code=3, step=8, epoch=0, duration=1.0)
    diverged = [*short_run(50, 8, finish=False), ended]
    assert health_subtitle(diverged) == "no health: the run ended before step 50"
    resumed = run_started(epochs=3)
    resumed.config, resumed.start_step = {"health_every": 50}, 120
    assert health_subtitle([resumed]) == "health at step 150"
    # Once a sample is in, its step, as before; a log without health_every says nothing.
    assert health_subtitle([*short_run(50, 8, finish=False), health(50, 0.0)]) == "step 50"
    assert health_subtitle(scripted_events(finish=False, upto_step=20)) == ""


class GrowingSource:
    """Events a test hands over as it goes, as a live run's arrive."""

    dropped = 0
    ends_history = False

    def __init__(self, events: list) -> None:
        self.events = list(events)

    def drain(self) -> list:
        events, self.events = self.events, []
        return events


async def test_a_run_that_ends_before_its_first_health_sample_says_so_on_the_border() -> None:
    source = GrowingSource(short_run(5, 2, finish=False))
    app = Dashboard(source)
    async with app.run_test(size=WIDE) as pilot:
        table = app.query_one(LayerTable)
        assert await until(pilot, lambda: app.state.step == 2)
        await pilot.pause()
        assert table.border_subtitle == "health at step 5"
        # Stopped at step 2 of 100: the border no longer waits for step 5, nor blames the
        # run's length (it said 'run shorter than health_every=5').
        source.events.append(
            RunFinished(status="interrupted", exit_code=130, step=2, epoch=0, duration=1.0)
        )
        assert await until(pilot, lambda: not app.state.active)
        assert await until(
            pilot, lambda: table.border_subtitle == "no health: the run ended before step 5"
        )
