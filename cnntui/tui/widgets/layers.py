"""The layer table: the shape report's rows with live per-layer health, problems coloured."""

from __future__ import annotations

import time

from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable

from cnntui.tui import format as fmt
from cnntui.tui.layer_health import LayerRow, as_float
from cnntui.tui.state import RunState
from cnntui.tui.widgets.paced import PacedRedraw

# (key, label, width): health columns get fixed widths because their first cells are empty
# and DataTable sizes a column once, from what it holds when the row is added.
COLUMNS = (
    ("name", "Layer", None),
    ("type", "Type", None),
    ("output", "Output", None),
    ("params", "Params", None),
    ("grad", "‖grad‖", 7),
    ("act_mean", "act μ", 7),
    ("act_std", "act σ", 7),
    ("dead", "dead", 4),
    ("status", "status", 7),
)
HEALTH_COLUMNS = ("grad", "act_mean", "act_std", "dead", "status")

# Words as well as colours, so a problem reads the same without colour.
CONDITION_STYLES = {
    "ok": ("ok", "green"),
    "vanishing": ("vanish", "bold yellow"),
    "exploding": ("explode", "bold red"),
    "dead": ("dead", "bold magenta"),
    "": ("", ""),
}


class LayerTable(DataTable):
    """A row per layer; health cells update in place so the cursor and scroll stay put."""

    DEFAULT_CSS = """
    LayerTable {
        height: 1fr;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._row_names: list[str] = []
        self._state: RunState | None = None
        # Health arrives a few times a second; a dozen rows of styled cells is worth a redraw
        # about once a second (cnntui/tui/widgets/paced.py).
        self.pacing = PacedRedraw(self, self._redraw)
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def update_from(self, state: RunState) -> None:
        self._state = state
        # New rows and a run's final numbers show at once; live health samples are paced.
        new_rows = [row.name for row in state.layers] != self._row_names
        self.pacing.request(now=new_rows or not state.active)

    def render_lines(self, crop: Region) -> list[Strip]:
        started = time.perf_counter()
        try:
            return super().render_lines(crop)
        finally:
            self.pacing.rendered(time.perf_counter() - started)

    def _redraw(self) -> None:
        state = self._state
        if state is None:
            return
        names = [row.name for row in state.layers]
        if names[: len(self._row_names)] != self._row_names:
            self.clear()
            self._row_names = []
        for row in state.layers[len(self._row_names) :]:
            self.add_row(*self._static_cells(row), *self._health_cells(row), key=row.name)
            self._row_names.append(row.name)
        for row in state.layers:
            if row.stat is None:
                continue
            for key, cell in zip(HEALTH_COLUMNS, self._health_cells(row), strict=True):
                self.update_cell(row.name, key, cell)
        self.border_subtitle = f"step {state.health_step:,}" if state.health_step else ""

    def _static_cells(self, row: LayerRow) -> list[Text]:
        params = "" if row.params is None else fmt.count(row.params)
        return [
            Text(row.name),
            Text(row.type, style="dim"),
            Text(row.output_shape),
            Text(params, justify="right"),
        ]

    def _health_cells(self, row: LayerRow) -> list[Text]:
        stat = row.stat
        condition = row.condition
        word, style = CONDITION_STYLES.get(condition, (condition, ""))
        if stat is None:
            return [Text("")] * len(HEALTH_COLUMNS)
        grad = as_float(stat.grad_norm)
        dead = as_float(stat.dead_fraction)
        grad_style = style if condition in ("vanishing", "exploding") else ""
        dead_style = style if condition == "dead" else ""
        return [
            Text(fmt.metric(grad) if grad is not None else "", style=grad_style, justify="right"),
            Text(_optional(stat.act_mean), justify="right"),
            Text(_optional(stat.act_std), justify="right"),
            Text(
                fmt.percent(dead, 0) if dead is not None else "", style=dead_style, justify="right"
            ),
            Text(word, style=style),
        ]


def _optional(value: object) -> str:
    number = as_float(value)
    return "" if number is None else fmt.metric(number)
