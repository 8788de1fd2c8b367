"""Y tick labels that fit the chart's axis column, for values plotext would print whole.

plotext labels a tick with every digit before the point: a diverging run's loss axis read
`185459223447035046789120.0`, 26 columns of an 80-column chart. Where its labels are longer than
the axis column the charts allow for, they are written short instead (`1.9e23`), at the very
ticks plotext would have placed, so a chart whose labels fit is drawn as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# plotext's private module: its helpers are the only way to the very limits, ticks and labels
# it would draw. Acceptable as pyproject pins plotext to 5.x (>=5.2,<6), where they are as used
# here; tests/tui/test_axis_labels.py fails if a release drops or renames them.
from plotext import _utility as plotext_utility

Y_AXIS_WIDTH = 8  # columns plotext takes for the y tick labels and the frame
MAX_LABEL = Y_AXIS_WIDTH - 1  # the axis column less the tick mark


def y_ticks(
    ys: Sequence[float], count: int, log_scale: bool = False
) -> tuple[list[float], list[str]] | None:
    """The ticks plotext would place for `ys` (in data units) with short labels; None where its
    own labels fit in MAX_LABEL columns, or there is nothing to label."""
    if not ys or count < 2:
        return None
    scaled = [math.log10(y) for y in ys] if log_scale else list(ys)
    # plotext's own limits and spacing (plotext/_build.py): min and max, `count` even steps.
    ticks = plotext_utility.linspace(*plotext_utility.get_lim(scaled), count)
    values = [10**t for t in ticks] if log_scale else ticks
    if max(len(label) for label in plotext_utility.get_labels(values)) <= MAX_LABEL:
        return None
    return values, short_labels(values)


def short_labels(values: Sequence[float]) -> list[str]:
    """`2.6`, `9.3e22`, `1.9e23`: the fewest significant digits (2 to 4) that tell the ticks
    apart, with the exponent written without its plus sign and zeros; never more than fit in
    MAX_LABEL columns, so ticks closer than that allows share a label (`1e-9`, `1e-9`), and
    a value whose 2 digits would not fit (`1.5e-100`) is given 1."""
    labels = [short(value, 1) for value in values]  # at most 7 columns: -5e-324
    for digits in (2, 3, 4):
        more = [short(value, digits) for value in values]
        if max(len(label) for label in more) > MAX_LABEL:
            break
        labels = more
        if len(set(labels)) == len(labels):
            break
    return labels


def short(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"
