"""The log pane: epoch summaries, checkpoints, warnings, messages and errors, newest last."""

from __future__ import annotations

from itertools import islice

from rich.text import Text
from textual import events
from textual.widgets import RichLog

from cnntui.tui import format as fmt
from cnntui.tui.state import LOG_LINES, LogLine, RunState

LEVEL_STYLES = {
    "success": "green",
    "warning": "yellow",
    "error": "bold red",
    "debug": "dim",
}
LEVEL_MARKS = {"warning": "! ", "error": "✖ ", "success": "✔ "}


def log_text(line: LogLine) -> Text:
    """`[m:ss] text`, the time since the run started (stable across time zones and replays)."""
    text = Text(f"[{fmt.duration(line.elapsed)}] ", style="dim")
    style = LEVEL_STYLES.get(line.level, "")
    text.append(LEVEL_MARKS.get(line.level, "") + line.text, style=style)
    return text


class LogPane(RichLog):
    """Appends only the lines logged since the last update."""

    DEFAULT_CSS = """
    LogPane {
        height: 1fr;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(
            max_lines=LOG_LINES, min_width=20, wrap=True, markup=False, highlight=False, **kwargs
        )
        self._seen = 0
        self._state: RunState | None = None
        self._wrap_width = 0

    def update_from(self, state: RunState) -> None:
        self._state = state
        if state.log_total < self._seen:  # the stream began a new run: start over
            self.clear()
            self._seen = 0
        new = min(state.log_total - self._seen, len(state.log))
        for line in islice(state.log, len(state.log) - new, None):
            self._write_line(line)
        self._seen = state.log_total

    def _write_line(self, line: LogLine) -> None:
        # Wrap to the pane's width now; RichLog would otherwise guess it before layout.
        width = self.scrollable_content_region.width
        self._wrap_width = width
        self.write(log_text(line), width=width if width > 0 else None)

    def on_resize(self, event: events.Resize) -> None:
        """RichLog keeps lines as rendered: rewrap them all when the width changes."""
        width = self.scrollable_content_region.width
        if self._state is None or width == self._wrap_width:
            return
        self.clear()
        for line in self._state.log:
            self._write_line(line)
