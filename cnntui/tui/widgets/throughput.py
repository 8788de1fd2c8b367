"""The throughput pane: examples/sec now and on average, steps/sec, data wait, a sparkline."""

from __future__ import annotations

from typing import get_args

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from cnntui.engine.events import RunStatus
from cnntui.tui import format as fmt
from cnntui.tui.state import RunState

# No training window is under way (paused, or the run ended however it did): the last one's
# rate is not what happens now.
WINDOWLESS = frozenset({"paused", *get_args(RunStatus)})


def throughput_text(state: RunState) -> Text:
    """Three short lines (a 34-column pane fits them); data wait past 20 % turns yellow.

    While the run trains they are the last window's figures beside the average; paused or
    ended, the status takes the place of the rate, and steps/s and the data wait are the run's
    averages."""
    text = Text()
    if state.status not in WINDOWLESS:
        text.append(f"{fmt.rate(state.examples_per_sec)}", style="bold")
        text.append(" ex/s now · ")
        text.append(f"{fmt.rate(state.average_examples_per_sec)}", style="bold")
        text.append(" avg\n")
        steps_per_sec, wait, average = state.steps_per_sec, state.data_wait, ""
    elif state.status != "paused" and not len(state.loss) and not state.loss.nonfinite:
        # Ended before its first report (failed or stopped at once in its first step; a
        # divergence reports the steps up to it): three lines of dashes read as figures to come.
        text.append(state.status, style="bold")
        text.append(" before any step was reported", style="dim")
        return text
    else:
        text.append(state.status, style="bold yellow" if state.status == "paused" else "bold")
        text.append(" · ")
        text.append(f"{fmt.rate(state.average_examples_per_sec)}", style="bold")
        text.append(" ex/s avg\n")
        seconds = state.trained_seconds
        steps_per_sec = state.trained_steps / seconds if seconds else None
        wait = state.data_wait_seconds / seconds if seconds else None
        average = " avg"
    text.append(f"{fmt.rate(steps_per_sec)} steps/s{average} · lr {fmt.metric(state.lr)}\n")
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
