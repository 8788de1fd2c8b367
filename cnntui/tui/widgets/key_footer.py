"""The footer of key bindings, kept readable on a terminal too narrow for all of them."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer

# What a user who sees nothing else must still find: the help lists every other key.
FIRST_ACTIONS = ("help", "quit_dashboard")


def key_width(key: Widget, compact: bool) -> int:
    """Columns one key takes: Footer pads it `␣k␣desc␣`, or `k␣desc` and a margin when compact.
    Footer's keys are read by their attributes: their class is private to Textual."""
    text = len(getattr(key, "key_display", "")) + len(getattr(key, "description", ""))
    return text + (2 if compact else 3)


class KeyFooter(Footer):
    """Footer that, where its keys do not fit the width, goes compact, and where even that does
    not fit, shows ? Help and q Quit first: Textual's cuts the row at the right edge, and the
    keys cut first were the way to the help and the way out (`q Qu` at 60 columns)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._width = 0  # the terminal's columns at the last resize; 0 before the first
        self._widths = (0, 0)  # the keys' total width, plain and compact, at the last compose

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        self._widths = (
            sum(key_width(k, compact=False) for k in keys),
            sum(key_width(k, compact=True) for k in keys),
        )
        width = self._width or self.app.size.width
        self.compact = self._widths[0] > width
        if self._widths[1] > width:
            keys.sort(key=lambda k: getattr(k, "action", None) not in FIRST_ACTIONS)
        yield from keys

    def on_resize(self, event: events.Resize) -> None:
        before = self._fits(self._width or self.app.size.width)
        self._width = event.size.width
        if self._fits(self._width) != before:
            self.call_after_refresh(self.recompose)

    def _fits(self, width: int) -> tuple[bool, bool]:
        return self._widths[0] <= width, self._widths[1] <= width
