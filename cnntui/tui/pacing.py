"""How often the dashboard refreshes: as often as it can while its thread stays within a budget.

Every refresh tick folds the new events into the panes, and Textual then renders what changed:
a few milliseconds on an idle core, tens of milliseconds on a machine whose cores training keeps
busy (CPU training on 2 cores). There the UI thread's work comes straight out of training, so the
tick spaces itself out until the UI's own CPU time, read from `time.thread_time()` between
ticks, is within its budget; on a GPU box with idle cores it stays at the base rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

UI_CPU_BUDGET = 0.05  # share of one core the dashboard's thread may use while a run trains
LONGEST_INTERVAL = 2.0  # seconds: slower than this and the panes stop feeling live


class TickPacer:
    """The interval before the next tick, from the UI thread's CPU use since the last one.

    Call `next_interval()` from the UI thread once per tick.
    """

    def __init__(
        self,
        base: float,
        budget: float = UI_CPU_BUDGET,
        longest: float = LONGEST_INTERVAL,
        wall_clock: Callable[[], float] = time.monotonic,
        thread_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.base = base
        self.budget = budget
        self.longest = max(base, longest)
        self.interval = base
        self._wall_clock, self._thread_clock = wall_clock, thread_clock
        self._wall, self._cpu = wall_clock(), thread_clock()

    def next_interval(self) -> float:
        wall, cpu = self._wall_clock(), self._thread_clock()
        elapsed = wall - self._wall
        if elapsed > 0:
            share = (cpu - self._cpu) / elapsed
            # Scale the interval by how far over (or under) budget the last one was, halfway
            # at a time so one slow frame (a resize, the first chart) does not swing it.
            wanted = self.interval * share / self.budget
            self.interval = min(self.longest, max(self.base, (self.interval + wanted) / 2))
        self._wall, self._cpu = wall, cpu
        return self.interval
