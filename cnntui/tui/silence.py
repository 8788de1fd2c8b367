"""When a tailed run's last event came, and on which clock: for `watch`'s `? SILENT` badge.

An event's `time` is its writer's wall clock, and watch may read a shared filesystem from another
machine whose clock is off by seconds or minutes. A live run must not look silent for that, so
news (events written after watch opened) is timed by its arrival here. What the file held when
watch opened arrived all at once; its last event's own time is the only date a run killed hours
ago has, and is trusted when it is older than the threshold by more than any plausible skew.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# Seconds two machines' clocks may differ by without a live run looking silent.
SKEW_ALLOWANCE = 60.0


@dataclass(frozen=True)
class Silence:
    since: float  # wall-clock time of the last event (seconds since the epoch)
    seconds: float  # how long ago that was


class LastEvent:
    """Tracks when the last event came; `silence` says how long ago, past a threshold."""

    def __init__(self, mono: float, wall: float) -> None:
        # Until an event arrives, the silence counts from when watch opened.
        self._at = (mono, wall)

    def arrived(
        self, event_time: float | None, ends_history: bool, mono: float, wall: float, after: float
    ) -> None:
        """Events arrived at local `mono`/`wall`; the last one written at `event_time` on its
        writer's clock. `ends_history`: it was the file's last event when watch opened."""
        age = wall - event_time if event_time is not None else 0.0
        if event_time is not None and ends_history and age > after + SKEW_ALLOWANCE:
            self._at = (mono - age, event_time)
        else:
            self._at = (mono, wall)

    def silence(self, mono: float, after: float) -> Silence | None:
        """How long no event has come, once that is over `after` seconds."""
        at_mono, at_wall = self._at
        quiet = mono - at_mono
        return Silence(at_wall, quiet) if quiet > after else None


def clock_time(since: float, now: float) -> str:
    """When `since` was on this machine's clock, in few columns: `14:02` today, `Mon 23:14`
    within the week, `2026-11-02` before; the header says how long ago beside it."""
    when, today = time.localtime(since), time.localtime(now)
    if when[:3] == today[:3]:
        return time.strftime("%H:%M", when)
    if 0 <= now - since < 6 * 86400:
        return time.strftime("%a %H:%M", when)
    return time.strftime("%Y-%m-%d", when)
