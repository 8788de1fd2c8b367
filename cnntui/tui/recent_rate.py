"""The step rate over the last half minute of training, for an ETA that does not jump."""

from __future__ import annotations

import math
from collections import deque

RATE_SPAN_SECONDS = 30.0  # long enough to smooth a busy machine, short enough to follow a change


class RecentRate:
    """Steps per second over the most recent training windows adding up to `span` seconds.

    The engine reports a rate per ~100 ms window. One window is noisy on a shared machine (a
    data wait, a checkpoint, another process), and an ETA read from it jumped by a factor of
    seven within seconds. The whole run's average, though, lags a change for ever (the first
    epoch's one-time costs, a second job starting on the GPU). Rich's progress bars take the
    same middle road with a 30 s window."""

    def __init__(self, span: float = RATE_SPAN_SECONDS) -> None:
        self.span = span
        self._windows: deque[tuple[float, float]] = deque()  # (steps, seconds), oldest first
        self._steps = 0.0
        self._seconds = 0.0

    def add(self, steps: float, seconds: float) -> None:
        if not (0 < steps < math.inf and 0 < seconds < math.inf):  # NaN fails both too
            return
        self._windows.append((steps, seconds))
        self._steps += steps
        self._seconds += seconds
        # Drop the oldest while what is left still covers the span: the sum never falls short.
        while self._windows and self._seconds - self._windows[0][1] >= self.span:
            old_steps, old_seconds = self._windows.popleft()
            self._steps -= old_steps
            self._seconds -= old_seconds

    @property
    def per_second(self) -> float | None:
        return self._steps / self._seconds if self._seconds > 0 else None
