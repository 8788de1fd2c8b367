"""One training step, and what surrounds it: the CUDA graph, the compile fallback and the
out-of-memory probe."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from cnntui.engine import pool_relu
from cnntui.engine.events import FIRST_STEP, Event, LogMessage
from cnntui.engine.graph import CaptureFailed, StepGraph
from cnntui.engine.oom import largest_fitting_batch, out_of_memory_message
from cnntui.engine.setup import RunSetup
from cnntui.engine.window import StepWindow


class StepRunner:
    """Runs forward, backward and update on a batch; `model` may change once (compile fallback)."""

    def __init__(
        self,
        setup: RunSetup,
        loss_fn: nn.Module,
        window: StepWindow,
        emit: Callable[[Event], None],
        begin_phase: Callable[[str], object],
    ) -> None:
        self.setup = setup
        self.model = setup.model
        self.optimizer = setup.optimizer
        self.schedule = setup.schedule
        self.scaler = setup.scaler
        self.loss_fn = loss_fn
        self.window = window
        self.emit = emit
        self.begin_phase = begin_phase  # TrainingLoop.begin_phase
        self.grad_clip = setup.config.grad_clip
        self.last_batch: tuple[torch.Tensor, torch.Tensor] | None = None
        compiled = setup.model is not setup.eager_model
        self._step = self._first_compiled_step if compiled else self.train_step
        self.graph = (
            StepGraph(self._step_body, self._clear_gradients, setup.device, setup.config.batch_size)
            if setup.cuda_graph
            else None
        )
        # cuDNN times its kernels for the first full batch's shapes, which every later step
        # runs; see stop_autotuning for the others.
        full_batch = setup.config.batch_size // setup.dist.world_size
        self._tuning_batch = full_batch if torch.backends.cudnn.benchmark else None
        # Set-up clears a failure left by an earlier run in this process where the model has
        # pairs to fuse; one seen in a run without any is not this run's to report.
        self._said_fused_failure = not setup.pool_first_pairs

    def __call__(self, x: torch.Tensor, y: torch.Tensor, eager: bool = False) -> None:
        """One step; `eager` keeps it out of the CUDA graph (a health sample's hooks)."""
        self._step_any_way(x, y, eager)
        if self._tuning_batch == y.shape[0]:
            stop_autotuning()
            self._tuning_batch = None
        if pool_relu.fused_failure is not None and not self._said_fused_failure:
            self._said_fused_failure = True
            message = (
                f"the fused max-pool + ReLU kernel failed ({pool_relu.fused_failure}); "
                "pooling with PyTorch's kernels"
            )
            self.emit(LogMessage(level="warning", message=message))

    def _step_any_way(self, x: torch.Tensor, y: torch.Tensor, eager: bool) -> None:
        graph = self.graph
        if graph is None or eager or not graph.fits(x, y):
            self._step(x, y)
            return
        try:
            self.last_batch = graph.step(x, y)
        except CaptureFailed as exc:
            self.graph = None
            self._warn_fallback("CUDA graph capture", exc)
            self._step(x, y)  # nothing ran in the failed capture: this batch trains eagerly
            return
        self._count_step(y.shape[0])

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = self.setup.autocast_dtype
        return torch.autocast(
            self.setup.device.type,
            dtype=dtype or torch.float32,
            enabled=dtype is not None,
            # A capture must not keep casts of the weights from one replay to the next.
            cache_enabled=False if self.graph is not None else None,
        )

    def _clear_gradients(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """An eager step: zero the gradients, then the step body, then the host's bookkeeping."""
        self.last_batch = (x, y)
        captured = self.graph is not None and self.graph.captured
        self.optimizer.zero_grad(set_to_none=not captured)
        self._step_body(x, y)
        self._count_step(y.shape[0])

    def _count_step(self, batch_size: int) -> None:
        # The rate this step's update used, read before the schedule moves on to the next
        # step's (get_last_lr() after step() is that one). A CUDA graph runs only under a
        # constant rate (graph.py), so the group's rate is the captured one too.
        self.window.count(batch_size, self.optimizer.param_groups[0]["lr"])
        self.schedule.step()

    def _warn_fallback(self, what: str, exc: Exception | str) -> None:
        self.emit(LogMessage(level="warning", message=f"{what} failed ({exc}); training eagerly"))

    def _step_body(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Forward, loss, backward, update and the step's metrics: what a CUDA graph captures."""
        with self.autocast():
            logits = self.model(x)
            loss = self.loss_fn(logits, y)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        # Record before the update: the gradient that is about to be applied is the one to blame.
        self.window.record(loss, logits, y, track_grads=self.scaler is None)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # fp16 only: GradScaler syncs to skip inf steps
            self.scaler.update()
        else:
            self.optimizer.step()

    def _first_compiled_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """torch.compile fails lazily, in the first forward or backward: fall back to eager."""
        self._step = self.train_step
        try:
            self.train_step(x, y)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # no C++ compiler, an op inductor cannot lower, ...
            assert self.setup.eager_model is not None
            self.model = self.setup.model = self.setup.eager_model
            self._warn_fallback("torch.compile", f"{type(exc).__name__}: {exc}")
            # No longer compiling: a dashboard said so until the first read window.
            self.begin_phase(FIRST_STEP)
            self.train_step(x, y)

    def probe_batch(self, batch: int) -> None:
        """One forward/backward at `batch` examples, for finding a batch size that fits."""
        assert self.last_batch is not None
        x, y = self.last_batch
        repeats = -(-batch // x.shape[0])
        xb, yb = x.repeat(repeats, *([1] * (x.dim() - 1)))[:batch], y.repeat(repeats)[:batch]
        self.optimizer.zero_grad(set_to_none=True)
        try:
            with self.autocast():
                loss = self.loss_fn(self.model(xb), yb)
            loss.backward()
        finally:
            self.optimizer.zero_grad(set_to_none=True)

    def out_of_memory_message(self, failed_batch: int, can_probe: bool) -> str:
        """Name a batch size that fits, found by halving the one that did not."""
        if self.last_batch is None or not can_probe:
            return out_of_memory_message(self.setup.device, failed_batch, None)
        x, y = self.last_batch
        self.last_batch = (x.detach(), y.detach())
        fits = largest_fitting_batch(self.probe_batch, failed_batch)
        return out_of_memory_message(self.setup.device, failed_batch, fits)


def stop_autotuning() -> None:
    """Let cuDNN pick kernels by its heuristics for shapes it has not yet seen. Those left after
    the training batch's (an epoch's ragged last batch, the evaluation's last) run once an epoch,
    and timing every candidate kernel for each costs more than it can win: on an H100, AlexNet's
    ragged last batch took 0.56 to 1.24 s to time and 6 ms a step after, for one step an epoch
    (bench/results/2026-11-24-h100/run1.log). The shapes already timed keep their kernels: the
    choices are cached by shape, whichever way they were made."""
    torch.backends.cudnn.benchmark = False
