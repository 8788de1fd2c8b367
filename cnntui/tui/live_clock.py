"""A live run's elapsed time for the header, going on between the run's events."""

from __future__ import annotations


class LiveClock:
    """The run's clock at its latest event plus the seconds since it arrived here.

    The engine's elapsed time counts pauses and evaluations, where no step comes: shown as the
    events left it, the header stood still through a pause, behind the times of the lines
    logged meanwhile, and jumped by the whole pause at the resume. An event waits up to a drain
    to arrive, some longer than others, so one may put the clock a little behind what was shown:
    it is never shown going back, unless the run's clock starts again (a new or resumed run).
    """

    def __init__(self) -> None:
        self._anchor: tuple[float, float] | None = None  # (run clock, when it arrived here)
        self._shown = 0.0

    def arrived(self, run_time: float, now: float) -> None:
        """Events came at `now` (a steady local clock); the run's clock read `run_time`."""
        if self._anchor is not None and run_time < self._anchor[0]:
            self._shown = 0.0
        self._anchor = (run_time, now)

    def read(self, now: float) -> float | None:
        """The run's elapsed seconds at `now`; None before any event."""
        if self._anchor is None:
            return None
        run_time, at = self._anchor
        self._shown = max(self._shown, run_time + max(0.0, now - at))
        return self._shown
