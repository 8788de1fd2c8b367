"""The throughput pane: examples/sec now and on average, steps/sec, data wait, a sparkline."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from cnntui.tui import format as fmt
from cnntui.tui.state import RunState


def throughput_text(state: RunState) -> Text:
    """Three short lines (a 34-column pane fits them); data wait past 20 % turns yellow."""
    text = Text()
    if state.status == "paused":  # the last window's rate is not what happens now
        text.append("paused", style="bold yellow")
        text.append(" · ")
    else:
        text.append(f"{fmt.rate(state.examples_per_sec)}", style="bold")
        text.append(" ex/s now · ")
    text.append(f"{fmt.rate(state.average_examples_per_sec)}", style="bold")
    text.append(" avg\n")
    text.append(f"{fmt.rate(state.steps_per_sec)} steps/s · lr {fmt.metric(state.lr)}\n")
    wait = state.data_wait
    slow = wait is not None and wait > 0.2
    text.append("waiting on data ")
    text.append(fmt.percent(wait), style="bold yellow" if slow else "bold")
    if slow:
        text.append(" (input-bound)", style="yellow")
    return text


class ThroughputPane(Vertical):
    """Numbers above a sparkline of examples/sec over the recent windows."""

    DEFAULT_CSS = """
    ThroughputPane {
        height: auto;
    }
    ThroughputPane > Static {
        height: 3;
    }
    ThroughputPane > Sparkline {
        height: 2;
        margin-top: 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Held rather than queried: an update during shutdown must not find the children gone.
        self._numbers = Static(Text("no steps yet", style="dim"), id="throughput-numbers")
        self._sparkline = Sparkline([], id="throughput-sparkline")

    def compose(self) -> ComposeResult:
        yield self._numbers
        yield self._sparkline

    def update_from(self, state: RunState) -> None:
        # Three lines in a fixed height: a repaint, never a relayout of the screen.
        self._numbers.update(throughput_text(state), layout=False)
        self._sparkline.data = list(state.examples_per_sec_history)
