"""The typed events of a training run: one stream for the TUI, the headless printers and the log.

Every event is a small dataclass with a `kind` tag and a JSON form. `events.jsonl` holds one
`to_dict()` per line; `event_from_dict` turns a line back into the same record, which is how
`cnntui watch` replays a run through the very code that shows it live.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **dataclasses.asdict(self)}


@dataclass
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_name: str
    run_dir: str
    model: str
    dataset: str
    device: str
    device_name: str
    epochs: int
    steps_per_epoch: int
    batch_size: int
    num_params: int
    classes: list[str]
    config: dict[str, Any]
    shapes: dict[str, Any] | None = None  # ShapeReport.to_dict()
    data: dict[str, Any] | None = None  # DataBundle.as_dict(): where it was read, sizes, stats
    start_step: int = 0  # > 0 when resumed
    world_size: int = 1


@dataclass
class StepMetrics(Event):
    """Training metrics over the steps since the previous StepMetrics (a window)."""

    kind: ClassVar[str] = "step"
    step: int  # global step at the end of the window (1-based count of steps done)
    epoch: int  # 0-based epoch the window ended in
    epoch_step: int  # steps done within that epoch
    loss: float  # mean training loss over the window
    accuracy: float  # training accuracy over the window
    lr: float
    examples_per_sec: float  # wall clock over whole steps, data included
    steps_per_sec: float
    data_wait: float  # share of the window's wall time spent waiting on data (0..1)
    examples: int  # examples seen since the run (or the resumed run) started
    elapsed: float  # seconds since the run started
    losses: list[float] = field(default_factory=list)  # per-step losses of the window


@dataclass
class LayerStat:
    name: str
    grad_norm: float | None = None
    weight_norm: float | None = None
    update_ratio: float | None = None  # |lr * grad| / |w| of the last step
    act_mean: float | None = None
    act_std: float | None = None
    dead_fraction: float | None = None  # share of units that are zero after a ReLU


@dataclass
class LayerHealth(Event):
    kind: ClassVar[str] = "health"
    step: int
    layers: list[LayerStat]

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> LayerHealth:
        layers = [LayerStat(**layer) for layer in data.pop("layers")]
        return cls(layers=layers, **data)


@dataclass
class DeviceStats(Event):
    kind: ClassVar[str] = "device"
    device: str  # "cuda:0", "cpu"
    memory_allocated: int | None = None  # bytes, torch allocator
    memory_reserved: int | None = None
    memory_peak: int | None = None
    memory_total: int | None = None  # NVML
    memory_used: int | None = None  # NVML, whole device
    utilization: float | None = None  # percent
    temperature: float | None = None  # Celsius
    power: float | None = None  # watts
    rss: int | None = None  # process resident memory, bytes
    cpu_percent: float | None = None
    gpus: list[dict[str, Any]] = field(default_factory=list)  # every local GPU (NVML)


@dataclass
class EpochSummary(Event):
    kind: ClassVar[str] = "epoch"
    epoch: int  # 0-based
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None = None
    val_accuracy: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    examples_per_sec: float = 0.0
    duration: float = 0.0
    best: bool = False


@dataclass
class Evaluation(Event):
    kind: ClassVar[str] = "evaluation"
    step: int
    split: str
    loss: float
    accuracy: float
    classes: list[str]
    per_class_accuracy: list[float]
    confusion: list[list[int]]  # rows: true class, columns: predicted class


@dataclass
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str
    reason: str  # "best", "last", "manual", "epoch"


@dataclass
class StateChanged(Event):
    kind: ClassVar[str] = "state"
    state: str  # "running", "paused", "stopping"
    step: int = 0
    # The most seconds the run goes without an event from here on: it writes a heartbeat in
    # any longer quiet. None: no such promise, from a cnntui before heartbeats (or from one
    # that beat while paused only, and said so in its paused events alone).
    heartbeat_every: float | None = None


# What a run is doing, as its heartbeats say (`Heartbeat.phase`): one of these, or
# `evaluating(split)` or `saving(file name)`. A reader shows any other (a newer cnntui's) as it is.
TRAINING = "training"
FIRST_STEP = "first step"  # cuDNN's autotuning, a CUDA graph's warm-up, DDP's first broadcast
COMPILING = "compiling"  # the first step under torch.compile
PAUSED = "paused"


def evaluating(split: str) -> str:
    return f"evaluating {split}"


def saving(name: str) -> str:
    return f"saving {name}"


@dataclass
class Heartbeat(Event):
    """The run is still there, and what it is doing: a long phase that emits nothing until it
    ends (its first step, an evaluation, a checkpoint's write, a pause) begins, or nothing else
    was emitted for `heartbeat_every` seconds. For a reader of the log (`cnntui watch`): only in
    events.jsonl, not on `--json`'s stdout nor in the printers' lines."""

    kind: ClassVar[str] = "heartbeat"
    step: int
    phase: str | None = None  # None: from a cnntui before phases


@dataclass
class LogMessage(Event):
    kind: ClassVar[str] = "log"
    level: str  # "info", "warning", "error"
    message: str


# How a run ended. A RunFinished's status is one of FinishedStatus (a run that failed ends with
# RunFailed instead); summary.json's may also be "failed". Each status is spelled here once:
# code that needs the set at run time takes it with typing.get_args, and a type checker run by
# hand (CI runs none) would catch a misspelled one. A status read back from a file (a newer
# cnntui's) is any string until a reader checks it.
FinishedStatus = Literal["finished", "interrupted", "diverged"]
RunStatus = Literal[FinishedStatus, "failed"]


@dataclass
class RunFinished(Event):
    kind: ClassVar[str] = "finished"
    status: FinishedStatus
    exit_code: int
    step: int
    epoch: int  # epochs completed: also the 0-based epoch a resumed run goes on with
    duration: float  # seconds in this process: a resumed run's time since the resume
    best_accuracy: float | None = None
    message: str = ""
    start_step: int = 0  # the step this process began at (> 0 when resumed)


@dataclass
class RunFailed(Event):
    kind: ClassVar[str] = "failed"
    error: str
    traceback: str
    step: int
    exit_code: int = 1


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        StepMetrics,
        LayerHealth,
        DeviceStats,
        EpochSummary,
        Evaluation,
        CheckpointSaved,
        StateChanged,
        Heartbeat,
        LogMessage,
        RunFinished,
        RunFailed,
    )
}

TERMINAL_KINDS = frozenset({RunFinished.kind, RunFailed.kind})


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form; unknown keys from newer versions are dropped."""
    data = dict(data)
    kind = data.pop("event")
    cls = EVENT_TYPES[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    data = {k: v for k, v in data.items() if k in names}
    if cls is LayerHealth:
        return LayerHealth.from_fields(data)
    return cls(**data)
