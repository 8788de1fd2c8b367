"""A deterministic LeNet run as events (fixed times, so snapshots are stable), a source handing
them over a few at a time, and a fake trainer."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from cnntui.data.datasets import DATASETS
from cnntui.engine.events import (
    CheckpointSaved,
    DeviceStats,
    EpochSummary,
    Evaluation,
    Event,
    LayerHealth,
    LayerStat,
    LogMessage,
    RunFailed,
    RunFinished,
    RunStarted,
    StateChanged,
    StepMetrics,
)
from cnntui.runlog import RunLogWriter

T0 = 1_700_000_000.0
CLASSES = list(DATASETS["fmnist"].classes)
LENET_LAYERS = [
    ("0", "Conv2d", [1, 6, 28, 28], 156),
    ("1", "Sigmoid", [1, 6, 28, 28], 0),
    ("2", "AvgPool2d", [1, 6, 14, 14], 0),
    ("3", "Conv2d", [1, 16, 10, 10], 2416),
    ("4", "Sigmoid", [1, 16, 10, 10], 0),
    ("5", "AvgPool2d", [1, 16, 5, 5], 0),
    ("6", "Flatten", [1, 400], 0),
    ("7", "Linear", [1, 120], 48120),
    ("8", "Sigmoid", [1, 120], 0),
    ("9", "Linear", [1, 84], 10164),
    ("10", "Sigmoid", [1, 84], 0),
    ("11", "Linear", [1, 10], 850),
]


def lenet_shapes() -> dict:
    """The shape of `ShapeReport.to_dict()` for LeNet on 1x1x28x28 (the rows the table reads)."""
    rows = [
        {
            "name": "",
            "type": "Sequential",
            "depth": 0,
            "output_shapes": [[1, 10]],
            "params": 61706,
            "is_leaf": False,
        }
    ]
    rows += [
        {
            "name": name,
            "type": kind,
            "depth": 1,
            "input_shapes": [],
            "output_shapes": [shape],
            "params": params,
            "is_leaf": True,
            "call_index": 0,
        }
        for name, kind, shape, params in LENET_LAYERS
    ]
    return {"model": "lenet", "input_shape": [1, 1, 28, 28], "rows": rows, "totals": {}}


def run_started(epochs: int = 3, steps_per_epoch: int = 100, device: str = "cpu") -> RunStarted:
    return RunStarted(
        run_name="20231114-221320-lenet-fmnist",
        run_dir="runs/20231114-221320-lenet-fmnist",
        model="lenet",
        dataset="fmnist",
        device=device,
        device_name="NVIDIA H100 80GB HBM3" if device.startswith("cuda") else "cpu",
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        batch_size=256,
        num_params=61706,
        classes=CLASSES,
        config={"lr": 0.9},
        shapes=lenet_shapes(),
        time=T0,
    )


def loss_at(step: int) -> float:
    """A plausible, deterministic loss curve with some wiggle."""
    return 0.35 + 1.95 * math.exp(-step / 60) + 0.04 * math.sin(step * 0.7)


def health(step: int, t: float) -> LayerHealth:
    """Sigmoid LeNet's first conv gets almost no gradient early: the 'vanishing' case."""
    first_grad = 5e-8 if step < 150 else 2e-4
    return LayerHealth(
        step=step,
        layers=[
            LayerStat("0", grad_norm=first_grad, weight_norm=1.9, update_ratio=1e-6),
            LayerStat("1", act_mean=0.5, act_std=0.08),
            LayerStat("3", grad_norm=0.012, weight_norm=3.1, update_ratio=1e-4),
            LayerStat("4", act_mean=0.48, act_std=0.11),
            LayerStat("7", grad_norm=0.15, weight_norm=5.2, update_ratio=1e-3),
            LayerStat("9", grad_norm=0.31, weight_norm=3.3, update_ratio=2e-3),
            LayerStat("11", grad_norm=0.92, weight_norm=2.1, update_ratio=4e-3),
        ],
        time=t,
    )


def confusion(step: int, t: float) -> Evaluation:
    rows = []
    for true in range(10):
        row = [3] * 10
        row[true] = 160 + 4 * true
        row[(true + 6) % 10] = 25 if true in (0, 2, 4) else 3
        rows.append(row)
    per_class = [row[i] / sum(row) for i, row in enumerate(rows)]
    return Evaluation(
        step=step,
        split="val",
        loss=0.52,
        accuracy=sum(r[i] for i, r in enumerate(rows)) / sum(map(sum, rows)),
        classes=CLASSES,
        per_class_accuracy=per_class,
        confusion=rows,
        time=t,
    )


def device_stats(step: int, t: float, device: str = "cpu") -> DeviceStats:
    if device.startswith("cuda"):
        gib = 1024**3
        return DeviceStats(
            device=device,
            memory_allocated=int(1.5 * gib),
            memory_reserved=int(2.0 * gib),
            memory_peak=int(2.4 * gib),
            memory_total=80 * gib,
            memory_used=int(3.1 * gib),
            utilization=87.0,
            temperature=61.0,
            power=312.0,
            rss=int(2.1 * gib),
            cpu_percent=101.0,
            gpus=[
                {"index": 0, "name": "NVIDIA H100", "utilization": 87.0, "memory_used": 3 * gib},
                {
                    "index": 1,
                    "name": "NVIDIA H100",
                    "utilization": 12.0,
                    "memory_used": gib,
                    "memory_total": 80 * gib,
                },
            ],
            time=t,
        )
    return DeviceStats(device="cpu", rss=812 * 1024**2, cpu_percent=185.0, time=t)


def scripted_events(
    epochs: int = 3,
    steps_per_epoch: int = 100,
    window: int = 10,
    device: str = "cpu",
    finish: bool = True,
    upto_step: int | None = None,
) -> list[Event]:
    """A whole run: windows of steps, health and device samples, epochs, a final evaluation."""
    events: list[Event] = [run_started(epochs, steps_per_epoch, device)]
    events.append(StateChanged(state="running", step=0, time=T0 + 0.5))
    total = epochs * steps_per_epoch
    last = total if upto_step is None else min(total, upto_step)
    for step in range(window, last + 1, window):
        t = T0 + 1 + step * 0.05
        epoch, epoch_step = divmod(step - 1, steps_per_epoch)
        losses = [loss_at(s) for s in range(step - window + 1, step + 1)]
        eps = 5000 + 400 * math.sin(step / 37)
        events.append(
            StepMetrics(
                step=step,
                epoch=epoch,
                epoch_step=epoch_step + 1,
                loss=sum(losses) / window,
                accuracy=min(0.92, 0.1 + 0.8 * (1 - math.exp(-step / 70))),
                lr=0.9,
                examples_per_sec=eps,
                steps_per_sec=eps / 256,
                data_wait=0.04,
                examples=step * 256,
                elapsed=step * 0.05,
                losses=losses,
                time=t,
            )
        )
        if step % 50 == 0:
            events.append(health(step, t))
            events.append(device_stats(step, t, device))
        if step % steps_per_epoch == 0:
            e = step // steps_per_epoch - 1
            val_acc = 0.55 + 0.12 * e
            events.append(
                EpochSummary(
                    epoch=e,
                    step=step,
                    train_loss=loss_at(step) + 0.05,
                    train_accuracy=0.5 + 0.12 * e,
                    val_loss=loss_at(step) + 0.1,
                    val_accuracy=val_acc,
                    examples_per_sec=5000.0,
                    duration=steps_per_epoch * 0.05,
                    best=True,
                    time=t,
                )
            )
            events.append(CheckpointSaved(step=step, path="runs/x/best.pt", reason="best", time=t))
    if finish:
        t = T0 + 1 + total * 0.05
        events.append(confusion(total, t))
        events.append(LogMessage(level="info", message="test split: 79.1% accuracy", time=t))
        events.append(CheckpointSaved(step=total, path="runs/x/last.pt", reason="last", time=t))
        events.append(
            RunFinished(
                status="finished",
                exit_code=0,
                step=total,
                epoch=epochs - 1,
                duration=total * 0.05,
                best_accuracy=0.55 + 0.12 * (epochs - 1),
                time=t,
            )
        )
    return events


def dated(events: list[Event], last_at: float) -> list[Event]:
    """The events moved in time so that the last is written at `last_at`."""
    shift = last_at - events[-1].time
    return [replace(event, time=event.time + shift) for event in events]


def record(run_dir: Path, events: list[Event]) -> Path:
    """A run directory whose events.jsonl holds `events`, as a run writes it."""
    writer = RunLogWriter(run_dir)
    for event in events:
        writer(event)
    writer.close()
    return run_dir


class TrickleSource:
    """Hands over a few events per drain, like a live run does."""

    dropped = 0
    ends_history = False  # news, as a live run's events are

    def __init__(self, events: list[Event], per_drain: int) -> None:
        self._events = list(events)
        self.per_drain = per_drain

    def drain(self) -> list[Event]:
        batch, self._events = self._events[: self.per_drain], self._events[self.per_drain :]
        return batch


class FakeTrainer:
    """The Trainer's control surface over a scripted event list, emitted from a thread.

    `hold_after` parks the run (as if training were slow) after that many events until stopped,
    so tests can press keys mid-training; `raise_error` makes `run()` raise at the end.
    """

    def __init__(
        self,
        events: list[Event] | None = None,
        hold_after: int | None = None,
        raise_error: BaseException | None = None,
        exit_code: int = 0,
    ) -> None:
        self.events = events if events is not None else scripted_events()
        self.hold_after = hold_after
        self.raise_error = raise_error
        self.exit_code = exit_code
        self.state = "starting"
        self.calls: list[str] = []
        self.stop_reasons: list[str] = []
        self._subscribers: list[Callable[[Event], None]] = []
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self.run_thread: threading.Thread | None = None
        # (the script's time, time.monotonic()) at its last event: the events this trainer
        # makes up go on from the script's clock, as a trainer's events share one clock.
        self._clock = (T0, time.monotonic())

    def now(self) -> float:
        """The time on the script's clock."""
        scripted, at = self._clock
        return scripted + time.monotonic() - at

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        self._subscribers.append(fn)

    def emit(self, event: Event) -> None:
        for fn in self._subscribers:
            fn(event)

    def run(self) -> int:
        self.run_thread = threading.current_thread()
        self.state = "running"
        for index, event in enumerate(self.events):
            if self.hold_after is not None and index >= self.hold_after:
                break
            self.emit(event)
            self._clock = (event.time, time.monotonic())
        while self.hold_after is not None and not self._stop.wait(0.01):
            if not self._running.is_set() and self.state != "paused":
                self.state = "paused"
                self.emit(StateChanged(state="paused", step=100, time=self.now()))
            elif self._running.is_set() and self.state == "paused":
                self.state = "running"
                self.emit(StateChanged(state="running", step=100, time=self.now()))
        if self.raise_error is not None:
            self.state = "failed"
            raise self.raise_error
        if self._stop.is_set():
            last = CheckpointSaved(step=100, path="runs/x/last.pt", reason="last", time=self.now())
            self.emit(last)
            self.emit(
                RunFinished(
                    status="interrupted", exit_code=130, step=100, epoch=0, duration=1,
                    time=self.now(),
                )
            )  # fmt: skip
            self.state = "finished"
            return 130
        self.state = "finished"
        return self.exit_code

    def pause(self) -> None:
        self.calls.append("pause")
        self._running.clear()

    def resume(self) -> None:
        self.calls.append("resume")
        self._running.set()

    def toggle_pause(self) -> None:
        self.calls.append("toggle_pause")
        if self._running.is_set():
            self._running.clear()
        else:
            self._running.set()

    def request_stop(self, reason: str = "stop requested") -> None:
        self.calls.append("request_stop")
        self.stop_reasons.append(reason)
        self._stop.set()
        self._running.set()

    def request_save(self) -> None:
        self.calls.append("request_save")
        self.emit(
            CheckpointSaved(step=100, path="runs/x/step-100.pt", reason="manual", time=self.now())
        )

    def request_evaluate(self) -> None:
        self.calls.append("request_evaluate")
        self.emit(confusion(100, self.now()))


def failing_events() -> list[Event]:
    """A run that fails at step 50 with a CUDA out-of-memory error."""
    events = scripted_events(finish=False, upto_step=50)
    events.append(
        RunFailed(
            error="OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
            traceback='Traceback (most recent call last):\n  File "trainer.py", line 300\n'
            "torch.OutOfMemoryError: CUDA out of memory.",
            step=50,
            time=T0 + 4,
        )
    )
    return events


async def until(pilot, condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Let the app run (its timers, the trainer's thread) until a condition holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await pilot.pause(0.02)
    return condition()
