"""A container that scrolls, and takes the focus for it, only while its content is cut off."""

from __future__ import annotations

from textual.containers import ScrollableContainer


class ScrollWhenCut(ScrollableContainer):
    """On a terminal too small for its panes (40x12) tab reaches it and the arrow and page keys
    scroll it, so no pane needs a mouse to be seen; where all fits it is not in the tab order
    and looks like a plain container."""

    DEFAULT_CSS = """
    ScrollWhenCut {
        overflow-x: hidden;
    }
    """

    def allow_focus(self) -> bool:
        return self.max_scroll_y > 0
