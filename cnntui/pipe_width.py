"""Rich tables printed into a pipe or a file take the width they need, and no more."""

from __future__ import annotations

import sys

from rich.console import Console, RenderableType
from rich.text import Text


def widen_for_pipe(console: Console, renderable: RenderableType) -> None:
    """A pipe or a file has no width, and rich assumes 80 columns there: cells wrapped over
    two rows, which `grep` and `cut` read apart. Widen the console to what `renderable`
    needs; a terminal keeps its own width."""
    if console.is_terminal:
        return
    unbounded = console.options.update_width(sys.maxsize)
    console.width = max(console.width, console.measure(renderable, options=unbounded).maximum)


def print_title(console: Console, title: str) -> None:
    """A table's title on its own line, as long as its words. Rich centres a Table's own title
    in the table's width, padding it with spaces to the end of the line, which `cnntui presets
    | cat -A` shows and `diff` and editors flag."""
    console.print(Text(title, style="table.title"), soft_wrap=True)
