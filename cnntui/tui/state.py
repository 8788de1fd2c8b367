"""What the dashboard shows, folded from the event stream; imports neither Textual nor torch.

`RunState.apply(events)` updates the model and returns the names of the panes whose data changed,
so the app redraws only those. The same code serves a live run and a replayed events.jsonl.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from cnntui.engine.events import (
    CheckpointSaved,
    DeviceStats,
    EpochSummary,
    Evaluation,
    Event,
    LayerHealth,
    LogMessage,
    RunFailed,
    RunFinished,
    RunStarted,
    StateChanged,
    StepMetrics,
)
from cnntui.tui import format as fmt
from cnntui.tui.downsample import DecimatingSeries
from cnntui.tui.heartbeats import Heartbeats
from cnntui.tui.layer_health import CONDITION_TEXT, LayerRow, as_float, rows_from_shapes
from cnntui.tui.recent_rate import RecentRate
from cnntui.wording import batch_words, plural

PANES = ("header", "layers", "loss", "accuracy", "device", "throughput", "log", "confusion")

THROUGHPUT_HISTORY = 240  # examples/sec samples kept for the sparkline
LOG_LINES = 2000
TRACEBACK_LINES = 30

ACTIVE_STATES = frozenset({"starting", "running", "paused", "stopping"})


@dataclass
class LogLine:
    elapsed: float  # seconds since the run started
    level: str  # info, success, warning, error
    text: str


@dataclass
class EpochPoints:
    """Per-epoch values for the charts, x in global steps; None where a split was not run."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float | None] = field(default_factory=list)
    train_accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    test_loss: list[float | None] = field(default_factory=list)
    test_accuracy: list[float | None] = field(default_factory=list)

    def add(self, event: EpochSummary) -> None:
        self.steps.append(event.step)
        for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            getattr(self, name).append(as_float(getattr(event, name)))
        self.test_loss.append(as_float(event.test_loss))
        self.test_accuracy.append(as_float(event.test_accuracy))


class RunState(Heartbeats):
    """The dashboard's model of one run, updated by `apply(events)`; what its heartbeats say
    (the phase, the longest quiet) is kept in heartbeats.py."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.started: RunStarted | None = None
        self.status = "starting"
        self.step = 0
        self.epoch = 0
        self.epoch_step = 0
        self.elapsed = 0.0
        self.steps_per_sec: float | None = None
        self.examples_per_sec: float | None = None
        self.average_examples_per_sec: float | None = None
        # Sums over the training windows, for the averages the throughput pane shows once no
        # window is under way (paused, ended): the last window's figures are not "now" then.
        self.trained_seconds = 0.0
        self.trained_examples = 0.0
        self.trained_steps = 0
        self.data_wait_seconds = 0.0
        self.recent_rate = RecentRate()  # for the ETA
        self.data_wait: float | None = None
        self.lr: float | None = None
        self.examples_per_sec_history: deque[float] = deque(maxlen=THROUGHPUT_HISTORY)
        self.layers: list[LayerRow] = []
        self.health_step: int | None = None
        self.loss = DecimatingSeries()
        self.train_accuracy = DecimatingSeries()
        self.epochs = EpochPoints()
        self.best_accuracy: float | None = None
        self.device: DeviceStats | None = None
        self.evaluation: Evaluation | None = None
        self.log: deque[LogLine] = deque(maxlen=LOG_LINES)
        self.log_total = 0  # lines ever logged, so a pane can append only the new ones
        self.finished: RunFinished | None = None
        self.failure: RunFailed | None = None
        self._warned: set[tuple[str, str]] = set()
        self._reported_status = "running"
        # The step a manual save wrote last.pt at during the pause the trainer reports now:
        # nothing changes while paused, so the trainer skips another save, without an event.
        self.saved_while_paused: int | None = None
        self._reset_heartbeats()
        # (elapsed, time) of the run's last step, or its start: what log lines are timed by.
        self._clock: tuple[float, float | None] = (0.0, None)
        self._event_time: float | None = None  # `time` of the event `apply` is folding
        self._latest = 0.0  # the run's clock when its latest event was written

    # -- derived values for the header ------------------------------------------------------

    @property
    def total_steps(self) -> int | None:
        """The step the run trains to: the end of its epochs, or its max_steps if sooner
        (a `--max-steps 2` run finished at 'step 2/10, 20%' with an ETA over every epoch)."""
        if self.started is None:
            return None
        total = self.started.epochs * self.started.steps_per_epoch
        max_steps = self.started.config.get("max_steps")
        if isinstance(max_steps, int) and not isinstance(max_steps, bool) and max_steps > 0:
            return min(total, max_steps)
        return total

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATES

    @property
    def ended(self) -> bool:
        """The run's end (finished, stopped, diverged or failed) has been read: what has not
        come by now (a first step, device statistics) never will."""
        return self.finished is not None or self.failure is not None

    @property
    def eta(self) -> float | None:
        """Seconds left at the step rate of the last half minute of training; None when not
        running or unknown."""
        total = self.total_steps
        rate = self.recent_rate.per_second
        if self.status != "running" or not total or not rate:
            return None
        return max(0, total - self.step) / rate

    @property
    def run_time(self) -> float:
        """The header's elapsed time: the run's clock when its latest event was written, which
        the log's latest line is timed by, its end included. `elapsed` moves with the steps
        only: through a pause or an evaluation it stood still, behind the log."""
        return self._latest

    @property
    def progress(self) -> float | None:
        total = self.total_steps
        return min(1.0, self.step / total) if total else None

    def step_to_epoch(self, step: float) -> float:
        """Global step as fractional epochs: the charts' x axis."""
        if self.started and self.started.steps_per_epoch:
            return step / self.started.steps_per_epoch
        return step

    # -- folding events -----------------------------------------------------------------------

    def apply(self, events: Iterable[Event]) -> set[str]:
        """Fold events in order; return the panes whose data changed."""
        changed: set[str] = set()
        try:
            for event in events:
                handler = getattr(self, f"_on_{event.kind}", None)
                if handler is not None:
                    self._event_time = as_float(event.time)
                    if self._phase_ends(event.kind):
                        changed.add("header")
                    changed |= handler(event)
                    self._latest = self._log_time()
        finally:  # a handler that raised must not time the notes that follow by its event
            self._event_time = None
        return changed

    def set_status(self, status: str) -> set[str]:
        """A state the UI knows before the trainer reports it (e.g. stop requested)."""
        if status == self.status:
            return set()
        self.status = status
        return {"header", "throughput"}  # the throughput pane says "paused" rather than a rate

    def note(self, level: str, text: str) -> set[str]:
        """Add a line to the log pane, at the time of the event being folded, if any."""
        self.log.append(LogLine(self._log_time(), level, text))
        self.log_total += 1
        return {"log"}

    def _log_time(self) -> float:
        """The run's clock when the event being folded was written: the last step's elapsed
        time plus the seconds since. Between steps (a pause, an evaluation) `elapsed` stands
        still: a resume after a minute's pause was logged at the minute it paused."""
        since, (elapsed, at) = self._event_time, self._clock
        if since is None or at is None:
            return self.elapsed
        return elapsed + max(0.0, since - at)

    def _on_run_started(self, event: RunStarted) -> set[str]:
        if self.started is not None:
            # A resumed run appends to its own events.jsonl: its picture goes on from the
            # earlier sessions. Any other second run in the stream starts a fresh one.
            if event.start_step and event.run_name == self.started.run_name:
                self.finished = self.failure = None
            else:
                self._reset()
        self.started = event
        self.status = "running"
        self._clock = (0.0, as_float(event.time))
        self.step = event.start_step
        self.epoch = event.start_step // event.steps_per_epoch if event.steps_per_epoch else 0
        self.layers = rows_from_shapes(event.shapes)
        resumed = f", resumed at step {event.start_step:,}" if event.start_step else ""
        self.note(
            "info",
            f"started {event.model} on {event.dataset} ({event.device}): "
            f"{plural(event.epochs, 'epoch')} × {plural(event.steps_per_epoch, 'step')}, "
            f"batch {batch_words(event.batch_size, event.data)}, "
            f"{event.num_params:,} parameters{resumed}",
        )
        return set(PANES)

    def _on_step(self, event: StepMetrics) -> set[str]:
        self.epoch, self.epoch_step = event.epoch, event.epoch_step
        self.elapsed = as_float(event.elapsed) or self.elapsed
        self._clock = (self.elapsed, as_float(event.time))
        self.lr = as_float(event.lr)
        self.steps_per_sec = as_float(event.steps_per_sec)
        self.examples_per_sec = as_float(event.examples_per_sec)
        self.data_wait = as_float(event.data_wait)
        if self.examples_per_sec is not None and math.isfinite(self.examples_per_sec):
            self.examples_per_sec_history.append(self.examples_per_sec)
        # The average over the training windows only: elapsed time also holds pauses and
        # evaluations, which the engine keeps out of its windows (and of summary.json's figure).
        # A window starts where the last one ended: every event that moves `step` between them
        # (an epoch's end, the finish) comes after a window's flush and carries its step.
        steps = event.step - self.step
        if steps > 0 and self.steps_per_sec and self.examples_per_sec:
            seconds = steps / self.steps_per_sec
            self.trained_seconds += seconds
            self.recent_rate.add(steps, seconds)
            self.trained_examples += seconds * self.examples_per_sec
            self.trained_steps += steps
            if self.data_wait is not None and math.isfinite(self.data_wait):
                self.data_wait_seconds += seconds * self.data_wait
            self.average_examples_per_sec = self.trained_examples / self.trained_seconds
        self.step = event.step
        changed = {"header", "throughput", "loss", "accuracy"}
        losses = [as_float(v) for v in event.losses] or [as_float(event.loss)]
        values = [math.nan if v is None else v for v in losses]
        first = event.step - len(values) + 1
        before = self.loss.nonfinite
        self.loss.extend(range(first, event.step + 1), values)
        if self.loss.nonfinite > before and self._warn_once("loss", "nonfinite"):
            changed |= self.note("warning", f"non-finite training loss at step {event.step:,}")
        accuracy = as_float(event.accuracy)
        if accuracy is not None:
            self.train_accuracy.append(event.step, accuracy)
        return changed

    def _on_health(self, event: LayerHealth) -> set[str]:
        self.health_step = event.step
        by_name = {row.name: row for row in self.layers}
        changed = {"layers"}
        for stat in event.layers:
            row = by_name.get(stat.name)
            if row is None:  # no shape report, or a layer it did not list
                row = LayerRow(name=stat.name)
                self.layers.append(row)
                by_name[stat.name] = row
            row.stat = stat
            condition = row.condition
            if condition not in ("", "ok") and self._warn_once(row.name, condition):
                label = f"{row.name} ({row.type})" if row.type else row.name
                changed |= self.note(
                    "warning", f"layer {label}: {CONDITION_TEXT[condition]} at step {event.step:,}"
                )
        return changed

    def _on_device(self, event: DeviceStats) -> set[str]:
        self.device = event
        return {"device"}

    def _on_epoch(self, event: EpochSummary) -> set[str]:
        self.epochs.add(event)
        self.step = max(self.step, event.step)
        epochs = self.started.epochs if self.started else "?"
        parts = [
            f"epoch {event.epoch + 1}/{epochs}",
            f"train loss {fmt.metric(as_float(event.train_loss))}"
            f" acc {fmt.percent(as_float(event.train_accuracy))}",
        ]
        for split in ("val", "test"):
            loss = as_float(getattr(event, f"{split}_loss"))
            acc = as_float(getattr(event, f"{split}_accuracy"))
            if loss is not None or acc is not None:
                parts.append(f"{split} loss {fmt.metric(loss)} acc {fmt.percent(acc)}")
        parts.append(f"{fmt.rate(as_float(event.examples_per_sec))} ex/s")
        parts.append(fmt.duration(as_float(event.duration)))
        level = "info"
        if event.best:
            parts.append("★ best")
            level = "success"
            accuracy = as_float(event.val_accuracy)
            if accuracy is None:
                accuracy = as_float(event.test_accuracy)
            if accuracy is not None:
                self.best_accuracy = accuracy
        self.note(level, "  ".join(parts))
        return {"header", "loss", "accuracy", "log"}

    def _on_evaluation(self, event: Evaluation) -> set[str]:
        self.evaluation = event
        self.note(
            "info",
            f"evaluated {event.split} at step {event.step:,}: loss "
            f"{fmt.metric(as_float(event.loss))} acc {fmt.percent(as_float(event.accuracy))}",
        )
        return {"confusion", "log"}

    def _on_checkpoint(self, event: CheckpointSaved) -> set[str]:
        if event.reason == "manual" and self._reported_status == "paused":
            self.saved_while_paused = event.step
        name = os.path.basename(event.path) or event.path
        return self.note("success", f"saved {event.reason} checkpoint {name} (step {event.step:,})")

    def _on_state(self, event: StateChanged) -> set[str]:
        changed = self.set_status(event.state)
        self.heartbeat_every = as_float(event.heartbeat_every)
        # Logged against what the trainer said last: the UI may have shown a pause already.
        if event.state != self._reported_status:
            self._reported_status = event.state
            self.saved_while_paused = None
            changed |= self.note("info", f"{event.state} at step {event.step:,}")
        return changed

    def _on_log(self, event: LogMessage) -> set[str]:
        return self.note(event.level, event.message)

    def _on_finished(self, event: RunFinished) -> set[str]:
        self.finished = event
        self.status = event.status
        # The run's clock at its end, as at any event. Not `duration`: that counts from
        # Trainer.run's start, before the run's clock started (the training loop's building,
        # NVML's start-up on a GPU, a set-up not done before run()), and the header, which
        # counted on the run's clock, jumped forward by the difference at the end.
        if self._clock[1] is None or self._event_time is None:
            self.elapsed = as_float(event.duration) or self.elapsed  # no clock to go on from
        else:
            self.elapsed = self._log_time()
        self._clock = (self.elapsed, self._event_time)
        self.step = max(self.step, event.step)
        if event.best_accuracy is not None:
            self.best_accuracy = as_float(event.best_accuracy)
        best = (
            f", best accuracy {fmt.percent(self.best_accuracy)}"
            if self.best_accuracy is not None
            else ""
        )
        level = {"finished": "success", "diverged": "error"}.get(event.status, "warning")
        message = f": {event.message}" if event.message else ""
        self.note(
            level,
            f"{event.status} at step {event.step:,} after {fmt.duration(self.elapsed)}"
            f"{best}{message} (exit code {event.exit_code})",
        )
        # No rate "now" once it has ended; the layer table's border no longer awaits health.
        return {"header", "log", "throughput", "layers"}

    def _on_failed(self, event: RunFailed) -> set[str]:
        self.failure = event
        self.status = "failed"
        self.note("error", f"failed at step {event.step:,}: {event.error}")
        for line in event.traceback.rstrip().splitlines()[-TRACEBACK_LINES:]:
            self.note("error", line)
        return {"header", "log", "throughput", "layers"}

    def _warn_once(self, subject: str, condition: str) -> bool:
        key = (subject, condition)
        if key in self._warned:
            return False
        self._warned.add(key)
        return True
