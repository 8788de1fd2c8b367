"""The layer table: the shape report's rows with live per-layer health, problems coloured.

A Line-API widget rather than a DataTable. Health changes a few times a second, and a DataTable
re-renders every one of its cells through Rich on any cell update: 25 ms for LeNet's dozen rows
on an idle core, several times that while training keeps the cores busy, all of it holding the
GIL the training thread needs. Here each row is one cached Strip keyed by its cells' text, so an
update costs the rows whose numbers changed, and a redraw of unchanged rows costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cnntui.tui import format as fmt
from cnntui.tui.layer_health import LayerRow, as_float
from cnntui.tui.state import RunState
from cnntui.tui.widgets.paced import PacedRedraw


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    min_width: int = 0  # health columns are empty at first; they start this wide
    right: bool = False  # numbers are right-aligned


COLUMNS = (
    Column("name", "Layer"),
    Column("type", "Type"),
    Column("output", "Output"),
    Column("params", "Params", right=True),
    Column("grad", "‖grad‖", 6, right=True),
    Column("act_mean", "act μ", 6, right=True),
    Column("act_std", "act σ", 6, right=True),
    Column("dead", "dead", 4, right=True),
    Column("status", "status", 7),
)
COLUMN_INDEX = {column.key: i for i, column in enumerate(COLUMNS)}
ALL_COLUMNS = tuple(range(len(COLUMNS)))
FIRST_WIDTHS = [max(cell_len(column.label), column.min_width) for column in COLUMNS]
# Spaces before every cell and after the last: at least one, two where the pane has the room.
# The spare columns go first to the gaps between numbers, where one space reads worst. So the
# table fits a 120-column terminal's pane (about 72 columns) with a live LeNet's numbers rather
# than scroll sideways, and spreads out on a wider one.
MAX_GAP = 2
# Gap i comes before column i; the last one closes the row.
GAP_PRIORITY = (
    *(COLUMN_INDEX[key] for key in ("grad", "act_mean", "act_std", "dead", "params", "status")),
    *(COLUMN_INDEX[key] for key in ("type", "output", "name")),
    len(COLUMNS),
)
# Where the table does not fit the pane even with one space a gap (a live LeNet under 70
# columns), whole columns go, the least needed while training first: the status word says what
# the health numbers would, and the parameter counts are in `cnntui shapes`. Layer, Output and
# status always stay, so a layer's health reads without scrolling sideways down to 50 columns.
DROP_ORDER = tuple(
    COLUMN_INDEX[key] for key in ("params", "act_std", "act_mean", "dead", "grad", "type")
)
# Before any column goes, Type narrows, a long name cut with "…", down to the width of the
# common ones ("BatchNorm2d"): resnet18's one AdaptiveAvgPool2d widened it so far that a
# 120-column terminal's pane hid every layer's parameter count. `cnntui shapes` has it whole.
TYPE_MIN_WIDTH = len("BatchNorm2d")
HEALTH_DIGITS = 3  # significant digits of the health numbers: trends, not exact values

# Words as well as colours, so a problem reads the same without colour.
CONDITION_STYLES = {
    "ok": ("ok", "green"),
    "vanishing": ("vanish", "bold yellow"),
    "exploding": ("explode", "bold red"),
    "dead": ("dead", "bold magenta"),
    "": ("", ""),
}


@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""  # a Rich style string; "" takes the table's own


Cells = tuple[Cell, ...]
HEADER_CELLS: Cells = tuple(Cell(column.label) for column in COLUMNS)
HEADER = -1  # the header's key among the cached row strips


class LayerTable(ScrollView, can_focus=True):
    """A row per layer under a fixed header; scrolls with the arrow keys when focused."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"layer-table--header"}
    DEFAULT_CSS = """
    LayerTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        &:focus { background-tint: $foreground 5%; }
        & > .layer-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .layer-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._state: RunState | None = None
        self._rows: list[Cells] = []
        self._names: list[str] = []
        self._widths = list(FIRST_WIDTHS)  # what the cells need
        self._fitted = list(FIRST_WIDTHS)  # what they get: Type narrowed to fit (narrowed())
        self._gaps = [MAX_GAP] * (len(COLUMNS) + 1)
        self._shown = ALL_COLUMNS  # indices of the columns the pane has room for
        self._strips: dict[int, tuple[tuple, Strip]] = {}  # row index -> (its key, its strip)
        self._base_style = self._header_style = Style()
        # Health arrives a few times a second; the table follows it about once a second
        # (cnntui/tui/widgets/paced.py), though a redraw now costs little.
        self.pacing = PacedRedraw(self, self._redraw)

    # --- data -----------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def cell(self, layer: str, column: str) -> Cell:
        """The cell shown for `layer` (a row name) in `column` (a key of COLUMNS)."""
        return self._rows[self._names.index(layer)][COLUMN_INDEX[column]]

    def update_from(self, state: RunState) -> None:
        self._state = state
        # New rows and a run's final numbers show at once; live health samples are paced.
        new_rows = [row.name for row in state.layers] != self._names
        self.pacing.request(now=new_rows or not state.active)

    def _redraw(self) -> None:
        state = self._state
        if state is None:
            return
        rows = [row_cells(row) for row in state.layers]
        names = [row.name for row in state.layers]
        # Columns grow to fit what they have shown, and never shrink under a live run's numbers.
        # A run that has ended fits its last numbers, so it reads the same whether it was
        # followed from the start or replayed (`run` and `watch` of one run draw one table).
        keep_widths = names == self._names and state.active
        start = self._widths if keep_widths else FIRST_WIDTHS
        widths = [
            max([start[i], *(cell_len(row[i].text) for row in rows)]) for i in range(len(COLUMNS))
        ]
        if names != self._names or widths != self._widths:
            self._names, self._rows, self._widths = names, rows, widths
            self._relayout()
        else:
            old_rows, self._rows = self._rows, rows
            for index, (old, new) in enumerate(zip(old_rows, rows, strict=True)):
                if old != new:
                    self._refresh_row(index)
        self._show_subtitle()

    def _table_width(self) -> int:
        return sum(self._fitted[i] for i in self._shown) + sum(self._gaps)

    def _relayout(self) -> None:
        """New column widths or a new pane width: share out the gaps, drop the cached rows."""
        room = self._room_for_table()
        self._fitted = narrowed(self._widths, room)
        self._shown = shown_columns(self._fitted, room)
        self._gaps = spread_gaps(self._fitted, room, self._shown)
        self._strips.clear()
        self.virtual_size = Size(self._table_width(), len(self._rows) + 1)
        self._show_subtitle()
        self.refresh()

    def _show_subtitle(self) -> None:
        hidden = len(COLUMNS) - len(self._shown)
        # The border's corners and the spaces Textual puts around a subtitle.
        self.border_subtitle = subtitle(health_words(self._state), hidden, self.size.width - 4)

    def _room_for_table(self) -> int:
        """The columns the table will have. Textual shows the vertical scrollbar only after the
        new virtual size is set; gaps shared out before that overflow it by the bar's width, and
        a horizontal scrollbar appears, hiding a row, for a table that fits."""
        width, height = self.container_size
        if len(self._rows) + 1 > height:  # the rows and the header
            width -= self.styles.scrollbar_size_vertical
        return width

    def on_resize(self) -> None:
        self._relayout()

    def _refresh_row(self, index: int) -> None:
        line = index + 1  # line 0 is the header, which stays put
        if 1 <= line - self.scroll_offset.y < self.size.height:
            self.refresh_line(line)

    # --- rendering ------------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        with self.pacing.measure():
            # Looked up once a render, not once a line: a DOM style lookup costs more than a row.
            self._base_style = self.rich_style
            self._header_style = self._base_style + self.get_component_rich_style(
                "layer-table--header"
            )
            return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        style = self._base_style
        if y == 0:
            style = self._header_style  # the header's band runs the pane's whole width
            strip = self._cached_strip(HEADER, HEADER_CELLS, style)
        else:
            index = scroll_y + y - 1
            if index >= len(self._rows):
                return Strip.blank(self.size.width, style)
            strip = self._cached_strip(index, self._rows[index], style)
        return strip.crop_extend(scroll_x, scroll_x + self.size.width, style)

    def _cached_strip(self, index: int, cells: Cells, style: Style) -> Strip:
        key = (cells, tuple(self._fitted), tuple(self._gaps), self._shown, style)
        cached = self._strips.get(index)
        if cached is None or cached[0] != key:
            cached = (key, self._strip(cells, style))
            self._strips[index] = cached
        return cached[1]

    def _strip(self, cells: Cells, base: Style) -> Strip:
        segments = []
        columns = zip(cells, COLUMNS, self._fitted, self._gaps[:-1], strict=True)
        for index, (cell, column, width, gap) in enumerate(columns):
            if index not in self._shown:
                continue
            text = cell.text
            if cell_len(text) > width:  # a Type narrowed to fit
                text = set_cell_size(text, width - 1) + "…"
            fill = " " * (width - cell_len(text))
            text = fill + text if column.right else text + fill
            style = base + parse_style(cell.style) if cell.style else base
            segments += [Segment(" " * gap, base), Segment(text, style)]
        segments.append(Segment(" " * self._gaps[-1], base))
        return Strip(segments, self._table_width())


def narrowed(widths: list[int], room: int) -> list[int]:
    """`widths` with Type's narrowed as far as the whole table needs to fit a pane of `room`
    columns (a space before each column and one after the last), but not under TYPE_MIN_WIDTH."""
    fitted = list(widths)
    over = sum(widths) + len(widths) + 1 - room
    type_width = widths[COLUMN_INDEX["type"]]
    if over > 0:
        fitted[COLUMN_INDEX["type"]] = max(min(type_width, TYPE_MIN_WIDTH), type_width - over)
    return fitted


def shown_columns(widths: list[int], room: int) -> tuple[int, ...]:
    """The columns a pane of `room` columns shows: all where they fit with a space before each
    and one after the last, else without those of DROP_ORDER, in turn, until they do (or none
    is left to drop: the table then scrolls sideways)."""
    shown = list(ALL_COLUMNS)
    for index in DROP_ORDER:
        if sum(widths[i] for i in shown) + len(shown) + 1 <= room:
            break
        shown.remove(index)
    return tuple(shown)


def health_words(state: RunState | None) -> str:
    """What the subtitle says of health: the step of the numbers shown, or before the first
    sample when it comes. Samples are taken every `health_every` steps: a run shorter than that
    (synthetic LeNet's 16 steps) left the health columns empty without a word why."""
    if state is None or state.started is None:
        return ""
    if state.health_step:
        return f"step {state.health_step:,}"
    config = state.started.config
    every = config.get("health_every")
    if not isinstance(every, int) or isinstance(every, bool):
        return ""  # a log that does not say
    if every <= 0:
        return "health off (health_every=0)"
    first = (state.started.start_step // every + 1) * every  # health.py: step % every == 0
    last = state.total_steps  # max_steps included
    if last is not None and first > last:
        return f"no health: run shorter than health_every={every}"
    if state.active:
        return f"health at step {first:,}"
    # Long enough, but it stopped, diverged or failed first: not a matter of its length.
    return f"no health: the run ended before step {first:,}" if state.step < first else ""


def subtitle(step: str, hidden: int, room: int) -> str:
    """The pane's subtitle in `room` columns: the step of the health numbers, and how many
    columns a narrow pane leaves out, which it must say: they go without a trace otherwise.
    The longest form that fits; the step goes before the hint to widen the terminal."""
    if not hidden:
        return step
    columns = f"{hidden} column{'s' if hidden > 1 else ''} hidden"
    hint = f"{columns} · widen the terminal"
    forms = [f"{step} · {hint}", hint, f"{step} · {columns}", columns] if step else [hint, columns]
    return next((form for form in forms if len(form) <= room), columns)


def spread_gaps(widths: list[int], room: int, shown: tuple[int, ...] = ALL_COLUMNS) -> list[int]:
    """The spaces before each column and after the last, for columns of `widths` in a pane of
    `room` columns: one each, and a second, in GAP_PRIORITY order, while the table still fits.
    A column not `shown` has none."""
    gaps = [1 if i in shown else 0 for i in range(len(widths))] + [1]
    spare = room - sum(widths[i] for i in shown) - sum(gaps)
    priority = [i for i in GAP_PRIORITY if gaps[i]]
    for index in priority[: max(0, spare)]:
        gaps[index] = MAX_GAP
    return gaps


@lru_cache(maxsize=64)
def parse_style(style: str) -> Style:
    return Style.parse(style)


def row_cells(row: LayerRow) -> Cells:
    """The text and style of each of a row's cells: static facts, then the latest health."""
    params = "" if row.params is None else param_count(row.params)
    if row.tied:  # counted at the layer it is tied to, as `cnntui shapes` shows it
        params = f"{params} + tied" if row.params else "tied"
    static = (Cell(row.name), Cell(row.type, "dim"), Cell(row.output_shape), Cell(params))
    return static + health_cells(row)


def param_count(params: int) -> str:
    """`9,472`, and from a million `2.36M`: resnet18's 2,359,296 took two columns more, which at
    120 columns were the Params column's own. The header has the total, `cnntui shapes` each
    count exactly."""
    return fmt.count(params) if params < 1_000_000 else f"{params / 1e6:.3g}M"


def health_cells(row: LayerRow) -> Cells:
    stat = row.stat
    if stat is None:
        return (Cell(""),) * (len(COLUMNS) - 4)
    condition = row.condition
    word, style = CONDITION_STYLES.get(condition, (condition, ""))
    dead = as_float(stat.dead_fraction)
    dead_text = fmt.percent(dead, 0) if dead is not None else ""
    return (
        Cell(_optional(stat.grad_norm), style if condition in ("vanishing", "exploding") else ""),
        Cell(_optional(stat.act_mean)),
        Cell(_optional(stat.act_std)),
        Cell(dead_text, style if condition == "dead" else ""),
        Cell(word, style),
    )


def _optional(value: object) -> str:
    number = as_float(value)
    return "" if number is None else fmt.metric(number, HEALTH_DIGITS)
