"""Heartbeats: a live run that has emitted nothing for a while says it is still there.

`cnntui watch` takes a run whose log stops for long for one that was killed. A live run goes
quiet for minutes in phases that report nothing: an evaluation of a big test set, a checkpoint's
write, the first step under torch.compile or a CUDA graph's capture (and the compiled model's
first evaluation), one step of a big model on a CPU, a pause. Most are calls the training thread
cannot break off to write. A thread beats through all of them, with no work on the training
thread and no host sync: nothing while events flow, a `heartbeat` once none came for a while.
It dies with the process, so a killed run still goes silent. Each heartbeat says the run's
phase (Trainer.phase); the training loop emits one itself as a long phase begins, so that a
dashboard says at once what the run is doing (loop.py's `begin_phase`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

# The most seconds a live run goes without an event: `watch` takes it for silent this much plus
# its allowance (15 s) after the last one. Heartbeats come only in a quiet this long: a few
# lines an evaluation, none while steps are reported; a day's pause writes 8,640 (0.5 MB).
HEARTBEAT_EVERY = 10.0


class Pulse:
    """Calls `beat_if_quiet` on a daemon thread, from entering the block to leaving it: it
    writes a heartbeat if the run has been quiet long enough, and returns the seconds until one
    may be due again."""

    def __init__(self, beat_if_quiet: Callable[[], float]) -> None:
        self._beat_if_quiet = beat_if_quiet
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cnntui-pulse", daemon=True)

    def __enter__(self) -> Pulse:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        wait = 0.0
        while not self._stopped.wait(wait):
            wait = max(0.01, self._beat_if_quiet())
