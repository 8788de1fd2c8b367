"""The current epoch's sums and clock: what its summary reports.

A checkpoint keeps them (`progress()`), so an epoch resumed half-way reports all of its batches,
not just those after the resume.
"""

from __future__ import annotations

import time
from typing import Any

from cnntui.engine.window import WindowReading


class EpochTally:
    def __init__(self) -> None:
        """An empty, stopped tally: before the first epoch."""
        self.loss_sum = 0.0  # loss times examples
        self.correct = 0
        self.examples = 0
        self.earlier_seconds = 0.0
        self._started: float | None = None  # perf_counter at the start, less earlier seconds
        self._paused = 0.0  # serving requests: kept out of the epoch's time
        self._seconds = 0.0

    @classmethod
    def begin(cls, progress: dict[str, Any] | None = None) -> EpochTally:
        """Start counting an epoch; `progress`: the sums of its part before a resume."""
        tally = cls()
        earlier = progress or {}
        tally.loss_sum = float(earlier.get("loss_sum", 0.0))
        tally.correct = int(earlier.get("correct", 0))
        tally.examples = int(earlier.get("examples", 0))
        tally.earlier_seconds = tally._seconds = float(earlier.get("seconds", 0.0))
        tally._started = time.perf_counter() - tally.earlier_seconds
        return tally

    def add(self, reading: WindowReading) -> None:
        self.loss_sum += reading.mean_loss * reading.examples
        self.correct += reading.correct
        self.examples += reading.examples

    def pause(self, seconds: float) -> None:
        self._paused += seconds

    @property
    def seconds(self) -> float:
        """Training time in the epoch, before a resume included; fixed once it has stopped."""
        if self._started is None:
            return self._seconds
        return time.perf_counter() - self._started - self._paused

    def stop(self) -> float:
        """Stop the clock; the seconds this process trained in the epoch."""
        self._seconds = self.seconds
        self._started = None
        return self._seconds - self.earlier_seconds

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1, self.examples)

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.examples)

    @property
    def examples_per_sec(self) -> float:
        return self.examples / max(self.seconds, 1e-9)

    def progress(self) -> dict[str, float]:
        """For a checkpoint written mid-epoch."""
        return {
            "loss_sum": self.loss_sum,
            "correct": self.correct,
            "examples": self.examples,
            "seconds": self.seconds,
        }
