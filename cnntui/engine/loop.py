"""The training loop: steps, bounded-rate metric reads, requests and epochs. What an epoch's
end does (evaluate, report, save a checkpoint) is epoch_end.py's.

The hot loop never waits on the host: per-step metrics stay on the device (`StepWindow`) and are
read about every 100 ms. Requests from other threads are served between batches.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from torch import nn

from cnntui.engine.control import Controls
from cnntui.engine.device_stats import DeviceMonitor
from cnntui.engine.distributed import all_reduce_sum, unwrap
from cnntui.engine.divergence import DivergenceWatch
from cnntui.engine.epoch_end import EpochEnd
from cnntui.engine.events import (
    COMPILING,
    FIRST_STEP,
    PAUSED,
    TRAINING,
    Event,
    Heartbeat,
    LayerHealth,
    LogMessage,
    StateChanged,
    StepMetrics,
)
from cnntui.engine.health import MIN_SECONDS_BETWEEN_SAMPLES, HealthMonitor
from cnntui.engine.setup import RunSetup
from cnntui.engine.step import StepRunner
from cnntui.engine.tally import EpochTally
from cnntui.engine.window import StepWindow, WindowReading
from cnntui.errors import EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    from cnntui.engine.trainer import Trainer

WINDOW_CAPACITY = 4096  # steps kept on the device between two reads


class TrainingLoop(EpochEnd):
    """The mutable state of one run: steps, windows, evaluation, checkpoints (the last two
    in epoch_end.py). What its checkpoints and summary hold is built from that state in
    run_records.py."""

    def __init__(self, trainer: Trainer, setup: RunSetup) -> None:
        self.trainer = trainer
        self.config = setup.config
        self.setup = setup
        self.data = setup.data
        self.device = setup.device
        self.optimizer = setup.optimizer
        self.schedule = setup.schedule
        self.scaler = setup.scaler
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=self.config.label_smoothing)
        self.step = setup.start_step
        self.epoch = setup.start_epoch
        self.best_accuracy: float | None = setup.best_accuracy
        self.history: list[dict[str, Any]] = list(setup.history)
        self.dist = setup.dist
        # In a data-parallel run, the flush point is agreed by all ranks (a collective): rank 0
        # picks how many steps the next window holds from its own timing.
        self._next_flush = 1
        self._stop_agreed = False
        self.health = HealthMonitor(
            unwrap(setup.model),  # the layer table's names, not torch.compile's "_orig_mod.0"
            self.config.health_every,
            # Deterministic runs keep a reproducible event log: samples by step count alone.
            min_seconds=0.0 if self.config.deterministic else MIN_SECONDS_BETWEEN_SAMPLES,
        )
        self.device_monitor = DeviceMonitor(self.device)
        # perf_counter time; -inf: the first flush samples (0 would not on a just-booted machine)
        self._last_device_sample = -math.inf
        self.window = StepWindow(WINDOW_CAPACITY, self.device, list(setup.model.parameters()))
        # Totals over the whole run, the part before a resume included (as `step` is).
        self.examples = int(setup.totals.get("examples", 0))
        self.started = time.perf_counter()
        self.train_seconds = float(setup.totals.get("train_seconds", 0.0))
        self.data_wait_seconds = float(setup.totals.get("data_wait_seconds", 0.0))
        self.divergence = DivergenceWatch(self.health, self.config.lr)
        # Health samples of the window being trained, emitted when it is read: a window cut at
        # a divergence drops those after its bad step, with the steps themselves.
        self._held_health: list[LayerHealth] = []
        self._autocast = setup.autocast_dtype
        self._last_saved = None
        self.steps = StepRunner(setup, self.loss_fn, self.window, self.emit, self.begin_phase)
        self.tally = EpochTally()

    @property
    def model(self) -> nn.Module:
        """The module being trained: the compiled one, or the eager one after a fallback."""
        return self.steps.model

    @property
    def controls(self) -> Controls:
        return self.trainer.controls

    def emit(self, event: Event) -> None:
        self.trainer.emit(event)

    def announce(self, state: str) -> None:
        """The run's state, as the trainer's façade and its events say it. Each event says how
        long the run goes without one at most (its heartbeats, Trainer.run's pulse): `watch`
        takes a longer quiet for a killed run, and an old log's quiet for nothing."""
        self.trainer.state = state
        every = self.trainer.heartbeat_every
        self.emit(StateChanged(state=state, step=self.step, heartbeat_every=every))

    def begin_phase(self, phase: str) -> str:
        """A phase that emits nothing until it ends (the first step, an evaluation, a
        checkpoint's write) begins: the heartbeats say it, and the first is emitted now, so that
        a dashboard shows it at once rather than after a period's quiet. Returns the one before."""
        before, self.trainer.phase = self.trainer.phase, phase
        self.emit(Heartbeat(step=self.step, phase=phase))
        return before

    @contextlib.contextmanager
    def in_phase(self, phase: str) -> Iterator[None]:
        """`begin_phase` for the block; the phase before it is the run's again after it."""
        before = self.begin_phase(phase)
        try:
            yield
        finally:
            self.trainer.phase = before

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> int:
        config = self.config
        self.trainer.state = "running"
        self.emit(self.setup.started_event())
        self.announce("running")
        for note in (self.setup.cuda_graph_note, self.setup.stem_note, self.setup.resume_note):
            if note:
                self.emit(LogMessage(level="info", message=note))
        if self.setup.data_note:
            self.emit(LogMessage(level="warning", message=self.setup.data_note))
        if self.dist.enabled:
            n = self.dist.world_size
            self.emit(
                LogMessage(
                    level="info",
                    message=f"data-parallel on {n} ranks: global batch {config.batch_size} "
                    f"({config.batch_size // n} per rank), learning rate {config.lr}",
                )
            )
        while self.epoch < config.epochs:
            finished_epoch = self.train_epoch()
            if not finished_epoch:
                return EXIT_INTERRUPTED if self.controls.stop_requested.is_set() else EXIT_OK
            self.end_epoch()
            if self.max_steps_reached():
                break
            if self._stop_agreed and self.epoch < config.epochs:
                # Agreed at the epoch's last read: an epoch shorter than a read window (a
                # fast rank, a small data set) has no other, and the ranks trained on for ever.
                # After the last epoch the run is complete, and finished, as a single process's.
                self.stop_with_peers()
                return EXIT_INTERRUPTED
        return EXIT_OK

    def max_steps_reached(self) -> bool:
        return self.config.max_steps is not None and self.step >= self.config.max_steps

    def train_epoch(self) -> bool:
        """Train one epoch; False when it stopped early (stop request or max_steps)."""
        config = self.config
        loader = self.data.train
        epoch_step = self.setup.start_batch
        loader.set_epoch(self.epoch, start_batch=epoch_step)
        self.model.train()
        self.tally = EpochTally.begin(self.setup.epoch_progress)  # the part before a resume
        self.setup.epoch_progress = None
        window_started = time.perf_counter()
        data_wait = 0.0
        batches = iter(loader)
        # Host timers measure data waits only where the data arrives synchronously.
        timed_fetch = self.device.type != "cuda" or getattr(loader, "waits_on_host", True)
        completed = failed = False
        if self.step == self.setup.start_step:  # the process's first step: seconds or minutes
            compiled = self.setup.model is not self.setup.eager_model
            self.begin_phase(COMPILING if compiled else FIRST_STEP)  # to the first flush
        try:
            while True:
                fetch_start = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    completed = True
                    return True
                if timed_fetch:
                    data_wait += time.perf_counter() - fetch_start
                sample_health = self.health.due(self.step + 1)
                if sample_health:
                    self.health.begin()
                x, y = batch
                self.steps(x, y, eager=sample_health)  # hooks: not through a CUDA graph
                self.step += 1
                epoch_step += 1
                if sample_health:
                    self._held_health.append(self.health.end(self.step))
                now = time.perf_counter()
                if self.dist.enabled:
                    due = self.window.steps >= self._next_flush  # the same step on every rank
                else:
                    due = now - window_started >= config.log_interval
                if due or self.window.full:
                    self.flush_window(now - window_started, data_wait, epoch_step)
                    window_started, data_wait = time.perf_counter(), 0.0
                    self.maybe_sample_device()
                    if self._stop_agreed:
                        return self.stop_with_peers()
                if self.max_steps_reached():
                    completed = epoch_step >= len(loader)
                    return completed
                # Ranks agree on a stop at the next flush; pause, save and evaluate requests
                # come from a dashboard, which never runs inside a rank.
                if self.controls.pending and not self.dist.enabled:
                    self.flush_window(time.perf_counter() - window_started, data_wait, epoch_step)
                    served = time.perf_counter()
                    if not self.handle_requests(epoch_step):
                        return False
                    self.tally.pause(time.perf_counter() - served)
                    window_started, data_wait = time.perf_counter(), 0.0
        except BaseException:
            failed = True
            raise
        finally:
            seconds = time.perf_counter() - window_started
            try:
                if not failed:
                    self.flush_window(seconds, data_wait, epoch_step)  # may raise Diverged
                elif not self.dist.enabled:  # a failing rank must not enter a lone collective
                    # The steps before the failure still reach the log, but a second error here
                    # (the window's loss already diverged) must not replace the one on its way.
                    with contextlib.suppress(Exception):
                        self.flush_window(seconds, data_wait, epoch_step)
            finally:  # the epoch's time counts however its last window ended
                self.train_seconds += self.tally.stop()
                # Where a resumed run picks up: the next batch, or the next epoch's first.
                self.setup.start_batch = 0 if completed else epoch_step

    def stop_with_peers(self) -> bool:
        """A rank asked to stop (a signal): every rank stops after the same step. False: the
        epoch ends unfinished, as `train_epoch` returns it."""
        if not self.controls.stop_requested.is_set():
            self.controls.request_stop("a peer rank stopped")
        self.announce("stopping")
        return False

    def out_of_memory_message(self) -> str:
        # Probing other batch sizes would need every rank to join in.
        return self.steps.out_of_memory_message(self.config.batch_size, not self.dist.enabled)

    # --- bounded-rate reads ---------------------------------------------------------------------

    def flush_window(self, seconds: float, data_wait: float, epoch_step: int) -> None:
        if self.window.steps == 0:
            return
        first_step = self.step - self.window.steps + 1
        self.trainer.phase = TRAINING  # once a window: the first step's phase ends at the first
        distributed = self.dist.enabled
        reading = self.read_window_all_ranks(seconds) if distributed else self.window.read()
        diverged = self.divergence.check(reading, first_step, self.epoch)
        if diverged is not None:
            # The run ends at the step whose loss went non-finite: those after it trained on
            # ruined weights, unread until this window's end. Its record (this window's steps,
            # the summary's steps and examples, the end's step) stops there, as its message.
            kept = diverged.step - first_step + 1
            seconds *= kept / reading.steps
            data_wait *= kept / reading.steps
            self.step -= reading.steps - kept
            epoch_step -= reading.steps - kept
            reading = reading.head(kept)
        else:
            blowing_up = self.divergence.blowing_up(reading, first_step)
            if blowing_up:
                self.emit(LogMessage(level="warning", message=blowing_up))
        held, self._held_health = self._held_health, []
        for sample in held:  # before the window's steps, as when each went out as taken
            if sample.step <= self.step:  # those after a divergence's step are not reported
                sample.time = time.time()  # the log stays in time order
                self.emit(sample)
        self.examples += reading.examples
        self.data_wait_seconds += data_wait
        loss_mean = reading.mean_loss
        self.tally.add(reading)
        seconds = max(seconds, 1e-9)
        self.emit(
            StepMetrics(
                step=self.step,
                epoch=self.epoch,
                epoch_step=epoch_step,
                loss=loss_mean,
                accuracy=reading.correct / max(1, reading.examples),
                lr=float(reading.lrs[-1]),  # the window's last step's: the one `step` names
                examples_per_sec=reading.examples / seconds,
                steps_per_sec=reading.steps / seconds,
                data_wait=min(1.0, data_wait / seconds),
                examples=self.examples,
                elapsed=time.perf_counter() - self.started,
                losses=reading.losses,
            )
        )
        if diverged is not None:
            raise diverged

    def read_window_all_ranks(self, seconds: float) -> WindowReading:
        """One all-reduce per window: global loss, accuracy and examples, the next flush point
        (rank 0's choice) and whether any rank wants to stop."""
        steps = self.window.steps
        next_flush = 0.0
        if self.dist.is_main:
            rate = steps / max(seconds, 1e-9)
            next_flush = float(min(WINDOW_CAPACITY, max(1, int(rate * self.config.log_interval))))
        stop = 1.0 if self.controls.stop_requested.is_set() else 0.0
        reading = self.window.read(all_reduce_sum, self.dist.world_size, extra=[stop, next_flush])
        self._stop_agreed = reading.extra[0] > 0
        self._next_flush = max(1, int(reading.extra[1]))
        return reading

    def maybe_sample_device(self) -> None:
        now = time.perf_counter()
        if now - self._last_device_sample >= self.config.device_stats_interval:
            self._last_device_sample = now
            self.emit(self.device_monitor.sample())

    # --- requests from other threads ------------------------------------------------------------

    def handle_requests(self, epoch_step: int) -> bool:
        """Serve pause/save/evaluate; False when the loop must stop."""
        controls = self.controls
        if controls.paused and not controls.stop_requested.is_set():
            self.announce("paused")  # marks the phase: no heartbeat needed to say it begins
            self.trainer.phase = PAUSED
            while not controls.wait_while_paused(0.1):
                self.serve_save_and_evaluate(epoch_step)
                if controls.stop_requested.is_set():
                    break
            self.trainer.phase = TRAINING
            if not controls.stop_requested.is_set():
                self.announce("running")
        self.serve_save_and_evaluate(epoch_step)
        if controls.stop_requested.is_set():
            self.announce("stopping")
            return False
        return True

    def serve_save_and_evaluate(self, epoch_step: int) -> None:
        controls = self.controls
        if controls.save_requested.is_set():
            controls.save_requested.clear()
            self.setup.start_batch = epoch_step
            self.save("manual")
        if controls.evaluate_requested.is_set():
            controls.evaluate_requested.clear()
            split = "val" if self.data.val is not None else "test"
            self.evaluate_split(split)
