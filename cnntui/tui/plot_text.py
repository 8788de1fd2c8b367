"""A plotext figure as Rich Text, read from plotext's character matrix instead of its ANSI string.

textual-plotext renders a chart by building plotext's canvas as one ANSI string and decoding it
back with `Text.from_ansi`. The two steps are about half of a chart's render (cProfile of the
accuracy chart at 160x48: 35% in rich's ANSI decoder, 10% in plotext's `set_canvas`), and the
dashboard's charts are its dearest panes. Here the matrix's runs of equal colour go straight
into Text. Each distinct colour triple is still turned into a Rich style by plotext's own ANSI
codes and Rich's decoder, once, so the result is the same Text as the round trip.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from plotext import _utility as plotext_utility
from rich.style import Style
from rich.text import Text


@lru_cache(maxsize=256)
def run_style(fullground: Any, style: Any, background: Any) -> Style | str:
    """The Rich style of cells plotext colours (fullground, style, background)."""
    codes = plotext_utility.colors_to_ansi(fullground, style, background)
    decoded = Text.from_ansi(codes + "x" + plotext_utility.ansi_end)
    return decoded.spans[0].style if decoded.spans else ""


def figure_text(figure: Any) -> Text:
    """The text plotext's `figure.build()` would print, as Rich Text, without the ANSI string.

    `figure` is plotext's figure object (textual-plotext's `Plot`), sized and themed already.
    """
    figure._set_sizes()
    figure._build_matrix()
    matrix = figure.monitor.matrix
    text = Text()
    for row in reversed(matrix.Rows):  # plotext keeps row 0 at the bottom
        markers = matrix.marker[row]
        colours = list(
            zip(matrix.fullground[row], matrix.style[row], matrix.background[row], strict=True)
        )
        start = 0
        for col in range(1, matrix.cols + 1):
            if col == matrix.cols or colours[col] != colours[start]:
                text.append("".join(markers[start:col]), run_style(*colours[start]))
                start = col
        text.append("\n")  # after the last row too, as in plotext's canvas
    return text
