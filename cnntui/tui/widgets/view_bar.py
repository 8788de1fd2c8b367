"""The one-line view switcher shown on narrow terminals: `1 Charts  2 Layers  3 System  4 Log`."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

HINT = "   c confusion"


class ViewBar(Static):
    """Keys 1-4 pick the view; the active one is reversed and marked, so NO_COLOR shows it too."""

    DEFAULT_CSS = """
    ViewBar {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, views: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.views = views
        self.active = views[0]

    def set_active(self, view: str) -> None:
        self.active = view
        self.refresh()

    def render(self) -> Text:
        # Tighter where the terminal is narrow (40 columns), the hint left out before any tab:
        # cut at the edge, `4 Log` was the tab that went.
        tabs = self._tabs(" ")
        if tabs.cell_len + len(HINT) > self.size.width:
            tabs = self._tabs("")
        if tabs.cell_len + len(HINT) <= self.size.width:
            tabs.append(HINT, style="dim")
        return tabs

    def _tabs(self, gap: str) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for number, view in enumerate(self.views, 1):
            label = f"{gap}{number} {view.title()} "
            if view == self.active:
                text.append(f"▸{label}", style="bold reverse")
            else:
                text.append(f" {label}", style="dim")
        return text
