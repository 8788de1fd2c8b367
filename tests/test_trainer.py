"""The engine on real (synthetic) training runs: events, run directory, resume, divergence."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cnntui.engine.checkpoint import load_checkpoint
from cnntui.engine.events import (
    CheckpointSaved,
    DeviceStats,
    EpochSummary,
    Evaluation,
    Event,
    LayerHealth,
    LogMessage,
    RunFinished,
    RunStarted,
    StateChanged,
    StepMetrics,
)
from cnntui.engine.trainer import Trainer
from cnntui.errors import UsageError
from cnntui.runlog import read_events
from cnntui.tui.state import RunState


def train(config, **kwargs) -> tuple[int, list[Event], Trainer]:
    events: list[Event] = []
    trainer = Trainer(config, subscribers=[events.append], **kwargs)
    code = trainer.run()
    return code, events, trainer


def of(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_a_run_learns_and_reports_every_event_kind(tiny_config) -> None:
    code, events, _ = train(tiny_config)
    assert code == 0
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    started = events[0]
    assert started.num_params == 61_706 and started.steps_per_epoch == 16
    assert started.shapes is not None and started.shapes["rows"]
    steps = of(events, StepMetrics)
    assert steps[-1].step == 32 and sum(len(s.losses) for s in steps) == 32
    epochs = of(events, EpochSummary)
    assert [e.epoch for e in epochs] == [0, 1]
    assert epochs[-1].test_accuracy > 0.5  # ten classes: chance is 0.1
    assert epochs[-1].train_loss < epochs[0].train_loss
    health = of(events, LayerHealth)
    assert health and {layer.name for layer in health[0].layers} >= {"0", "1", "9"}
    relu = next(layer for layer in health[0].layers if layer.name == "1")
    assert relu.dead_fraction is not None and 0 <= relu.dead_fraction <= 1
    conv = next(layer for layer in health[0].layers if layer.name == "0")
    assert conv.grad_norm > 0 and conv.weight_norm > 0 and conv.update_ratio > 0
    evaluation = of(events, Evaluation)[-1]
    assert len(evaluation.confusion) == 10
    assert sum(map(sum, evaluation.confusion)) == 256


def test_the_run_directory_holds_config_events_checkpoints_and_summary(tiny_config) -> None:
    code, events, trainer = train(tiny_config)
    assert code == 0
    run_dir = Path(tiny_config.run_dir)
    assert trainer.run_dir == run_dir
    assert {p.name for p in run_dir.iterdir()} >= {
        "config.json",
        "events.jsonl",
        "best.pt",
        "last.pt",
        "summary.json",
    }
    logged = read_events(run_dir)
    assert [e.kind for e in logged] == [e.kind for e in events]
    # A reader can order or window the log by time: an epoch's event comes after the
    # evaluations it reports, so its time must too.
    times = [e.time for e in logged]
    assert times == sorted(times), [(e.kind, e.time) for e in logged]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 32
    assert summary["epochs_completed"] == 2
    state = load_checkpoint(run_dir / "last.pt")
    assert state["step"] == 32 and state["epoch"] == 2
    assert json.loads((run_dir / "config.json").read_text())["model"] == "lenet"


def test_the_summary_says_how_long_subscribers_held_the_training_thread(tiny_config) -> None:
    delivered: list[Event] = []

    def slow_subscriber(event: Event) -> None:
        delivered.append(event)
        time.sleep(0.002)

    trainer = Trainer(tiny_config, subscribers=[slow_subscriber])
    assert trainer.run() == 0
    summary = json.loads((Path(tiny_config.run_dir) / "summary.json").read_text())
    # Every event but RunFinished (emitted after the summary is written) took 2 ms or more.
    assert summary["reporting_seconds"] >= 0.002 * (len(delivered) - 1)
    assert summary["reporting_seconds"] < summary["duration"]


def wait_until(predicate, what: str, worker: threading.Thread, timeout: float = 120) -> None:
    """Poll until `predicate()` holds; a bug fails the test after `timeout` seconds (far more
    than a loaded CI machine needs) instead of hanging the suite."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert worker.is_alive(), f"the run ended while the test waited for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.01)


def test_the_first_window_samples_the_device_on_a_just_booted_machine(
    tiny_config, monkeypatch
) -> None:
    # perf_counter counts from boot on Linux: here the machine has been up for 10 ms, far less
    # than the sampling interval, and the run's first window must still sample the device.
    real_clock, booted = time.perf_counter, time.perf_counter() - 0.01
    monkeypatch.setattr(time, "perf_counter", lambda: real_clock() - booted)
    config = dataclasses.replace(tiny_config, epochs=1, device_stats_interval=3600.0)
    code, events, _ = train(config)
    assert code == 0
    assert len(of(events, DeviceStats)) == 1


@pytest.mark.parametrize(("epochs", "status"), [(2, "interrupted"), (1, "finished")])
def test_a_stop_the_ranks_agree_on_at_an_epochs_end(
    tiny_config, monkeypatch, epochs: int, status: str
) -> None:
    """Ranks agree on a stop at their reads of the metrics; an epoch shorter than a read window
    has only its last. Agreed there, the run stops after that epoch, unless it was the last:
    then it is complete, and finished, as a single process would say."""
    from cnntui.engine.loop import TrainingLoop

    flush = TrainingLoop.flush_window

    def agree_at_the_epochs_end(loop, seconds, data_wait, epoch_step) -> None:
        flush(loop, seconds, data_wait, epoch_step)
        loop._stop_agreed = epoch_step == len(loop.data.train)

    monkeypatch.setattr(TrainingLoop, "flush_window", agree_at_the_epochs_end)
    # No read inside an epoch (a window longer than the run): the epoch's end is the only one.
    config = dataclasses.replace(tiny_config, epochs=epochs, log_interval=1e9)
    code, events, _ = train(config)
    [finished] = of(events, RunFinished)
    assert (finished.status, finished.epoch) == (status, 1)
    assert code == (130 if status == "interrupted" else 0)


@contextlib.contextmanager
def paused_in_a_thread(trainer: Trainer) -> Iterator[threading.Thread]:
    """The run on a thread, paused from its first step; stopped when the block ends ("a test's
    stop"). A daemon, stopped however the block ends: a failed wait must not leave a paused run
    behind that keeps the interpreter (and so the suite) from exiting."""
    worker = threading.Thread(target=trainer.run, daemon=True)
    trainer.pause()
    worker.start()
    try:
        yield worker
        trainer.request_stop("a test's stop")
        worker.join(timeout=120)
        assert not worker.is_alive(), "the run did not stop within 120 s of request_stop"
    finally:
        if worker.is_alive():
            trainer.request_stop("the test failed")
            trainer.resume()
            worker.join(timeout=120)


def test_pause_save_and_evaluate_requests_from_another_thread(tiny_config) -> None:
    config = dataclasses.replace(tiny_config, epochs=50)
    events: list[Event] = []
    trainer = Trainer(config, subscribers=[events.append])
    with paused_in_a_thread(trainer) as worker:
        wait_until(
            lambda: any(isinstance(e, StateChanged) and e.state == "paused" for e in events),
            "the run to report that it paused",
            worker,
        )
        step = trainer.setup_done and of(events, StepMetrics)[-1].step
        trainer.request_save()
        trainer.request_evaluate()
        wait_until(lambda: of(events, Evaluation), "the evaluation requested while paused", worker)
        # Paused: no training steps happen while save and evaluate are served.
        assert of(events, StepMetrics)[-1].step == step
        assert any(isinstance(e, CheckpointSaved) and e.reason == "manual" for e in events)
        trainer.resume()
    assert isinstance(events[-1], RunFinished) and events[-1].status == "interrupted"
    assert events[-1].message == trainer.summary["message"] == "a test's stop"


NAN_MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 28 * 28, 32), nn.ReLU())
        self.head = nn.Linear(32, num_classes)
        self.calls = 0
        # Poison the head's gradient on the 5th step: the weights turn NaN in that update,
        # the loss follows on step 6.
        self.head.weight.register_hook(self._poison)

    def _poison(self, grad):
        self.calls += 1
        return grad * float("nan") if self.calls == 5 else grad

    def forward(self, x):
        return self.head(self.features(x))
"""


BREAKS_AFTER_NAN = """

class BreaksAfterNan(Net):
    def forward(self, x):
        if self.calls >= 6:  # the loss went NaN at step 6, not yet read
            raise RuntimeError("the data worker died")
        return super().forward(x)
"""


def nan_model_config(tiny_config, tmp_path: Path, model_class: str, log_interval: float):
    """A run of one of the models above, written to a file as a user's own model would be."""
    path = tmp_path / "nanmodel.py"
    path.write_text(textwrap.dedent(NAN_MODEL) + textwrap.dedent(BREAKS_AFTER_NAN))
    return dataclasses.replace(
        tiny_config,
        model=f"{path}:{model_class}",
        model_options={},
        momentum=0.0,
        health_every=0,
        log_interval=log_interval,
    )


# Every step its own window (the bad gradient and the bad loss are read apart), or one window.
@pytest.mark.parametrize("log_interval", [1e-9, 60.0])
def test_divergence_names_the_step_and_the_layer(tiny_config, tmp_path, log_interval) -> None:
    config = nan_model_config(tiny_config, tmp_path, "Net", log_interval)
    code, events, _ = train(config)
    assert code == 3
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "diverged"
    assert "at step 6" in finished.message
    assert "'head' at step 5" in finished.message
    summary = json.loads((Path(config.run_dir) / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["exit_code"] == 3
    # The summary's examples go with its steps, which end at the step that diverged.
    assert summary["examples"] == summary["steps"] * config.batch_size > 0


@pytest.mark.parametrize("log_interval", [1e-9, 60.0])
def test_a_divergence_reports_the_steps_up_to_it_and_ends_there(
    tiny_config, tmp_path, log_interval
) -> None:
    """Read in one window, the steps before the NaN were dropped with it (no step event at all),
    and the run ended at the window's last step (16): "diverged at step 16: loss became nan at
    step 6". Its record now stops at the step that went non-finite, everywhere."""
    config = nan_model_config(tiny_config, tmp_path, "Net", log_interval)
    code, events, _ = train(config)
    assert code == 3
    losses = [loss for e in of(events, StepMetrics) for loss in e.losses]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses[:5])
    assert not math.isfinite(losses[5])
    assert of(events, StepMetrics)[-1].step == 6
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.step == 6
    assert "loss became nan at step 6" in finished.message
    summary = json.loads((Path(config.run_dir) / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["examples"] == 6 * config.batch_size
    assert summary["train_seconds"] > 0  # the epoch's clock stopped though its last read raised
    state = RunState()
    state.apply(read_events(Path(config.run_dir) / "events.jsonl"))
    assert state.step == 6
    assert state.log[-1].text.startswith("diverged at step 6 after ")


def test_a_divergence_drops_the_health_samples_after_its_step(tiny_config, tmp_path) -> None:
    """Read in one window, the steps after the NaN (6) are cut from the record, but their
    health samples had gone out as they were taken: health at step 8, 12 and 16 in the log of
    a run that ended at step 6, and the layer pane's 'step 16'."""
    config = nan_model_config(tiny_config, tmp_path, "Net", 60.0)
    config = dataclasses.replace(config, health_every=4, deterministic=True)  # every sample
    code, events, _ = train(config)
    assert code == 3 and events[-1].step == 6
    assert [e.step for e in of(events, LayerHealth)] == [4]
    logged = read_events(Path(config.run_dir) / "events.jsonl")
    assert [e.step for e in logged if isinstance(e, LayerHealth)] == [4]


def test_an_error_is_reported_as_itself_when_the_unread_loss_had_diverged(
    tiny_config, tmp_path
) -> None:
    config = nan_model_config(tiny_config, tmp_path, "BreaksAfterNan", log_interval=60.0)
    code, events, _ = train(config)
    assert code == 1
    assert events[-1].kind == "failed" and "the data worker died" in events[-1].error
    # A bug, not a failure cnntui expects: its traceback stays, for the log and --debug.
    assert 'raise RuntimeError("the data worker died")' in events[-1].traceback


@pytest.mark.parametrize("log_interval", [1e-9, 60.0])  # a window per step, or one in all
def test_a_loss_that_explodes_but_stays_finite_is_warned_of_once(tiny_config, log_interval) -> None:
    """d2l's sigmoid LeNet at lr 1e6 reaches a loss near 1e7 and never NaN: no divergence,
    so the run goes on, but the log must say it is blowing up."""
    config = dataclasses.replace(
        tiny_config, model_options={}, lr=1e6, momentum=0.0, log_interval=log_interval
    )
    code, events, _ = train(config)
    assert code == 0
    warnings = [e for e in of(events, LogMessage) if "blowing up" in e.message]
    assert len(warnings) == 1, warnings
    assert warnings[0].level == "warning" and "learning rate (now 1.0e6)" in warnings[0].message
    # The same net at a sane rate trains without the warning.
    code, events, _ = train(dataclasses.replace(config, lr=0.9, run_dir=config.run_dir + "-sane"))
    assert code == 0 and not [e for e in of(events, LogMessage) if "blowing up" in e.message]


def test_max_steps_stops_early_and_keeps_a_resumable_checkpoint(tiny_config) -> None:
    code, events, _ = train(dataclasses.replace(tiny_config, max_steps=5))
    assert code == 0
    assert of(events, StepMetrics)[-1].step == 5
    state = load_checkpoint(Path(tiny_config.run_dir) / "last.pt")
    assert (state["step"], state["epoch"], state["epoch_batch"]) == (5, 0, 5)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop", "Adagrad"])
def test_other_optimisers_train(tiny_config, optimizer: str) -> None:
    config = dataclasses.replace(
        tiny_config, optimizer=optimizer, lr=1e-3, momentum=0.0, epochs=1, schedule="cosine"
    )
    code, events, _ = train(config)
    assert code == 0 and of(events, EpochSummary)


def test_unknown_optimizer_argument_is_a_clear_error(tiny_config) -> None:
    from cnntui.errors import UsageError

    config = dataclasses.replace(tiny_config, optimizer="adam", optimizer_args={"betas2": 0.9})
    with pytest.raises(UsageError, match="takes no argument betas2"):
        Trainer(config).setup()


OOM_MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    '''Pretends a device too small for more than 20 examples at a time.'''

    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 28 * 28, num_classes))

    def forward(self, x):
        if x.shape[0] > 20:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.body(x)
"""


def test_out_of_memory_names_a_batch_size_that_fits(tiny_config, tmp_path) -> None:
    path = tmp_path / "oommodel.py"
    path.write_text(textwrap.dedent(OOM_MODEL))
    config = dataclasses.replace(tiny_config, model=f"{path}:Net", model_options={})
    code, events, _ = train(config)
    assert code == 1
    failed = events[-1]
    assert failed.kind == "failed"
    # 64 failed; halving: 32 fails too, 16 fits.
    assert "out of memory at batch size 64; a batch of 16 fits" in failed.error
    assert "--batch-size 16" in failed.error


def test_a_failing_torch_compile_falls_back_to_eager(tiny_config, monkeypatch) -> None:
    class BrokenCompiled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self._orig_mod = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("inductor: no working C++ compiler")

    monkeypatch.setattr(torch, "compile", BrokenCompiled)
    code, events, _ = train(dataclasses.replace(tiny_config, compile=True, epochs=1))
    assert code == 0
    warnings = [e for e in events if e.kind == "log" and e.level == "warning"]
    assert warnings and "training eagerly" in warnings[0].message
    assert of(events, StepMetrics)[-1].step == 16
    # The run says it no longer compiles as it falls back: a dashboard said "compiling" until
    # the first read window, through the eager first step too.
    first_step = events[: events.index(of(events, StepMetrics)[0])]
    # Phases and messages only: a health sample the window held (step 5 of a slow first
    # window) is emitted before its step event.
    said = [
        (e.kind, getattr(e, "phase", None)) for e in first_step if e.kind in ("heartbeat", "log")
    ]
    assert said[-3:] == [
        ("heartbeat", "compiling"),
        ("log", None),  # the warning
        ("heartbeat", "first step"),
    ], said


def test_a_checkpoint_from_a_cuda_graph_run_resumes_on_the_cpu(tiny_config, tmp_path) -> None:
    """A graphed GPU run saves its optimiser with capturable=True (state on the device); the
    resumed run takes the saved state under its own flags instead of crashing on its first step.
    """
    config = dataclasses.replace(tiny_config, optimizer="adam", lr=1e-3, momentum=0.0, epochs=1)
    assert train(config)[0] == 0
    path = Path(config.run_dir) / "last.pt"
    state = torch.load(path, weights_only=True)
    for group in state["optimizer"]["param_groups"]:
        group["capturable"] = True  # as a run whose step was captured in a CUDA graph saved it
    torch.save(state, path)

    code, events, _ = train(config, resume_from=path, resume_overrides={"epochs": 2})
    assert code == 0, [e for e in events if type(e).__name__ == "RunFailed"]
    assert of(events, RunStarted)[0].start_step == 16
    assert of(events, EpochSummary)[-1].epoch == 1


def test_amp_auto_is_resolved_and_recorded_for_the_resume(tiny_config) -> None:
    """auto means bf16 on a CUDA GPU and float32 here; the run records what it chose, so a
    resumed run keeps the arithmetic it started with."""
    config = dataclasses.replace(tiny_config, amp="auto", epochs=1, max_steps=2)
    code, events, _ = train(config)
    assert code == 0
    assert of(events, RunStarted)[0].config["amp"] == "off"
    saved = json.loads((Path(config.run_dir) / "config.json").read_text())
    assert saved["amp"] == "off"


def test_a_bad_value_given_when_resuming_is_blamed_on_the_command_line(tiny_config) -> None:
    first = Trainer(dataclasses.replace(tiny_config, epochs=1, max_steps=3))
    assert first.run() == 0
    resumed = Trainer(tiny_config, resume_from=first.run_dir, resume_overrides={"lr": -1.0})
    with pytest.raises(UsageError, match=r"^--lr "):
        resumed.setup()


def test_a_run_that_max_steps_ended_says_so(tiny_config) -> None:
    """The summary's message says why a run ended: here --max-steps, before its epochs did."""
    _, events, _ = train(dataclasses.replace(tiny_config, max_steps=5))
    message = "--max-steps 5 reached, 27 steps before the end of 2 epochs"
    assert events[-1].message == message
    summary = json.loads((Path(tiny_config.run_dir) / "summary.json").read_text())
    assert (summary["status"], summary["message"]) == ("finished", message)
    # A max_steps the epochs end at first is no early end.
    _, events, _ = train(
        dataclasses.replace(tiny_config, max_steps=32, run_dir=tiny_config.run_dir + "-2")
    )
    assert events[-1].message == ""
