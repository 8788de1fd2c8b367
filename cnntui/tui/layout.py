"""Which arrangement of the panes a terminal of a given size gets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.geometry import Size

# Below either, the panes do not fit side by side: one group at a time, behind tabs.
NARROW_WIDTH = 110
NARROW_HEIGHT = 30
CHROME_ROWS = 4  # the header's two lines, the view bar and the footer
CHART_ROWS = 8  # the smallest chart pane worth a look: its frame, 4 rows of plot, the x axis
CHART_COLUMNS = 30  # the same across: its frame, the y labels and about 20 columns of plot
# What ended a run that failed, diverged or was stopped with a message has a header line of its
# own only where the panes can spare the row: on a shorter terminal (40x12, 80x14) it shares the
# state line, cut short where it must be (the log has it whole). From 21 rows up, two stacked
# charts still fit whole below three lines.
PROBLEM_LINE_ROWS = CHROME_ROWS + 1 + 2 * CHART_ROWS


@dataclass(frozen=True)
class Arrangement:
    narrow: bool  # one group of panes at a time, picked with 1-4
    stacked: bool  # the two charts one above the other rather than side by side
    problem_line: bool = True  # a failed or stopped run's message on a header line of its own


def arrangement(size: Size) -> Arrangement:
    """Narrow terminals stack the charts, unless there is no height for two (80x14) and width
    for both side by side, or width to spare (200x15): stacked there, accuracy fell off the
    bottom of the screen with nothing to say it was there."""
    narrow = size.width < NARROW_WIDTH or size.height < NARROW_HEIGHT
    rows = size.height - CHROME_ROWS
    tall_enough = rows >= 2 * CHART_ROWS
    side_by_side = size.width >= NARROW_WIDTH or (
        not tall_enough and size.width >= 2 * CHART_COLUMNS
    )
    return Arrangement(
        narrow=narrow,
        stacked=narrow and not side_by_side,
        problem_line=size.height >= PROBLEM_LINE_ROWS,
    )
