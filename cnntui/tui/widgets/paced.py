"""Redraws spaced by what they cost, for the panes whose render is expensive.

A chart (plotext's matrix, read into rich Text) takes 5-15 ms to render on an idle core and
several times that on a machine whose cores training keeps busy, all of it on the UI thread and
holding the GIL the training thread needs. Such a pane follows the data at most once a second,
and no more often than keeps its renders within REDRAW_BUDGET of the time; the last update is
never dropped, only delayed. The layer table goes through the same pacing: its rows cost little
since they are cached strips, but health numbers that change four times a second are unreadable
anyway."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

from textual.timer import Timer
from textual.widget import Widget

MIN_REDRAW_INTERVAL = 1.0
REDRAW_BUDGET = 0.005  # a third of the dashboard's whole budget (cnntui/tui/pacing.py) each


class PacedRedraw:
    """Calls `redraw()` now or later, so that redraws stay spaced by their measured cost.

    The widget reports each render's cost through `rendered(seconds)`.
    """

    def __init__(
        self, widget: Widget, redraw: Callable[[], None], budget: float = REDRAW_BUDGET
    ) -> None:
        self.widget = widget
        self.redraw = redraw
        self.budget = budget
        self._costs: dict[object, float] = {}  # the last render's cost, per part redrawn
        self._last = -math.inf
        self._pending: Timer | None = None

    @property
    def render_seconds(self) -> float:
        """What one redraw costs: the last render of each part it redraws, added up."""
        return sum(self._costs.values())

    @property
    def interval(self) -> float:
        return max(MIN_REDRAW_INTERVAL, self.render_seconds / self.budget)

    def request(self, now: bool = False) -> None:
        """Redraw when the spacing allows; `now`: at once (new structure, a run that ended)."""
        wait = self._last + self.interval - time.monotonic()
        if now or wait <= 0:
            self._run()
        elif self._pending is None:
            self._pending = self.widget.set_timer(wait, self._run_deferred)

    def rendered(self, seconds: float, part: object = None) -> None:
        self._costs[part] = seconds

    @contextlib.contextmanager
    def measure(self, part: object = None) -> Iterator[None]:
        """Times the render inside it (of `part`, where one redraw renders several), and
        reports it through `rendered` even if it raises."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.rendered(time.perf_counter() - started, part)

    def _run_deferred(self) -> None:
        self._pending = None  # this timer has fired; it is not stopped from inside its callback
        self._run()

    def _run(self) -> None:
        # A redraw that runs at once takes the place of the deferred one, which would otherwise
        # follow it within the spacing.
        if self._pending is not None:
            self._pending.stop()
            self._pending = None
        self._last = time.monotonic()
        self.redraw()
