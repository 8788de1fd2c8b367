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

# Share of one core the dashboard's thread may use while a run trains. On 2 cores that training
# keeps busy, the UI's time comes out of training about one for one (bench/draw_cost.py, LeNet:
# drawing/idle 0.94 at 5%, 0.965 at 2.5% and 0.98 at 1.5%, with the GIL handed back within
# 0.5 ms, cnntui/tui/app.py). Renders are cheaper on an idle core, so a GPU box with cores to
# spare gets livelier panes out of the same budget.
UI_CPU_BUDGET = 0.015
LONGEST_INTERVAL = 2.0  # seconds: slower than this and the panes stop feeling live

# bench/dashboard.py's same-run comparison: with this set to P seconds, the dashboard draws only
# in the even P-second slices of the wall clock, so one run trains beside a drawing dashboard and
# an idle one, alternately, under the same machine conditions.
DRAW_PHASES_ENV = "CNNTUI_BENCH_DRAW_PHASES"


def drawing_phase(wall_time: float, phase_seconds: float | None) -> bool:
    """Whether the dashboard draws at `wall_time` (time.time()) when it alternates by phases."""
    return not phase_seconds or int(wall_time // phase_seconds) % 2 == 0


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

    def skip(self) -> float:
        """For a tick that did no work: measure afresh from now, keep the interval."""
        self._wall, self._cpu = self._wall_clock(), self._thread_clock()
        return self.interval
