"""The confusion matrix of the last evaluation, with class names and per-class accuracy."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.widgets import Static

from cnntui.engine.events import Evaluation
from cnntui.tui import format as fmt
from cnntui.tui.layer_health import as_float
from cnntui.tui.state import RunState

NAME_WIDTH = 12


def cell_style(count: int, row_total: int, diagonal: bool) -> str:
    """Correct predictions green; mistakes brighter the larger their share of the row."""
    if count == 0:
        return "dim"
    if diagonal:
        return "bold green"
    share = count / row_total if row_total else 0
    return "bold red" if share > 0.1 else "red" if share > 0.02 else ""


def confusion_table(evaluation: Evaluation) -> Table:
    """Rows are true classes, columns predicted classes by index (names would not fit).

    Each row's accuracy comes right after its name, as in `cnntui eval`: last, it was a
    hundred columns to the right of a 100-class matrix, out of the pane until scrolled to."""
    classes = evaluation.classes or [str(i) for i in range(len(evaluation.confusion))]
    table = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    table.add_column("true \\ pred", no_wrap=True, max_width=NAME_WIDTH + 4)
    table.add_column("acc", justify="right")
    for index in range(len(classes)):
        table.add_column(str(index), justify="right")
    for index, row in enumerate(evaluation.confusion):
        total = sum(row)
        name = classes[index] if index < len(classes) else str(index)
        cells = [Text(str(c), style=cell_style(c, total, i == index)) for i, c in enumerate(row)]
        per_class = evaluation.per_class_accuracy
        accuracy = as_float(per_class[index]) if index < len(per_class) else None
        table.add_row(
            Text(f"{index} {name[:NAME_WIDTH]}", overflow="ellipsis"),
            Text(fmt.percent(accuracy, 0), style="bold"),
            *cells,
        )
    return table


class ConfusionPane(ScrollableContainer):
    """Shown in place of the layer table by the `c` key; scrolls when many classes do not fit."""

    DEFAULT_CSS = """
    ConfusionPane {
        height: 1fr;
    }
    ConfusionPane > Static {
        width: auto;
    }
    """

    def __init__(self, read_only: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        hint = "" if read_only else " — press e to evaluate now"
        self._empty = Text(f"no evaluation yet{hint}", style="dim")
        # Held rather than queried: an update during shutdown must not find the child gone.
        self._body = Static(self._empty, id="confusion-table")

    def compose(self) -> ComposeResult:
        yield self._body

    def update_from(self, state: RunState) -> None:
        evaluation = state.evaluation
        body = self._body
        if evaluation is None:
            body.update(self._empty)
            return
        accuracy = fmt.percent(as_float(evaluation.accuracy))
        self.border_subtitle = f"{evaluation.split} · step {evaluation.step:,} · acc {accuracy}"
        body.update(confusion_table(evaluation))
