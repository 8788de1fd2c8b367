"""The whole training step as one CUDA graph: forward, loss, backward, update and its metrics.

A LeNet-sized net on a GPU is bound by launches, not arithmetic: each of an eager step's ~80
kernels costs microseconds of Python, autograd and driver work, several times what the kernel
itself takes on the GPU. Captured once, the step replays with a single launch, and per step the
host only copies the next batch into the graph's input buffers.

A capture freezes the step's shapes and every Python number in it, which decides where it applies:
- the shapes: an epoch's ragged last batch, and sampled health steps (forward hooks), run eagerly
  between replays, on the same parameters and gradient buffers;
- the numbers: the learning rate (so only the constant schedule), and fp16's loss scale (GradScaler
  decides on the host whether to skip a step);
- what is not the plain step: DDP's bucketed all-reduce and torch.compile (which captures its own
  graphs) are left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from cnntui.config import RunConfig
from cnntui.engine.distributed import DistContext

# Eager steps before the capture: cuDNN's autotuning, the optimiser's lazily made state (momentum
# buffers) and the allocator's first blocks must all exist before the kernels are recorded.
WARMUP_STEPS = 3


class CaptureFailed(Exception):
    """The step could not be recorded (an op in it syncs with the host, say); train eagerly."""


def graph_blocker(config: RunConfig, device: torch.device, dist: DistContext) -> str | None:
    """Why this run's training step cannot be captured in a CUDA graph; None when it can."""
    from cnntui.engine.optim import step_is_capturable

    if device.type != "cuda":
        return "CUDA graphs need a CUDA device"
    if config.compile:
        return "torch.compile is on, and it captures its own graphs"
    if config.amp == "fp16":
        return "fp16 loss scaling decides on the host whether to skip each step"
    if dist.enabled:
        return "data-parallel steps are not captured"
    if config.schedule != "constant" or config.warmup_epochs:
        return "the learning-rate schedule changes the rate every step"
    if not step_is_capturable(config.optimizer):
        # Its host-side state would be computed once, during the capture, and then replayed.
        return f"the {config.optimizer} optimizer keeps state on the host"
    return None


class StepGraph:
    """Captures `body(x, y)` (the step after zero_grad) once, then replays it for every batch of
    the same shape.

    The first `WARMUP_STEPS` full batches run `body` eagerly on a side stream, as capture
    requires; the capture takes the shape of the first full batch (a resumed run may start on an
    epoch's ragged last one). `clear_gradients` sets the gradients to None.
    """

    def __init__(
        self,
        body: Callable[[torch.Tensor, torch.Tensor], None],
        clear_gradients: Callable[[], None],
        device: torch.device,
        batch_size: int,
    ) -> None:
        self.body = body
        self.clear_gradients = clear_gradients
        self.device = device
        self.batch_size = batch_size
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.warmups_left = WARMUP_STEPS
        # One stream for every warm-up step: each new stream may get its own cuBLAS workspace.
        self._side_stream: torch.cuda.Stream | None = None
        self._shape: tuple | None = None  # (x shape, x strides, x dtype, y shape) of the graph

    @property
    def captured(self) -> bool:
        """After the capture the graph's kernels own the gradients' addresses: an eager step must
        zero them in place rather than set them to None."""
        return self.graph is not None

    def fits(self, x: torch.Tensor, y: torch.Tensor) -> bool:
        """Whether this batch can go through the graph."""
        if self._shape is None:
            return x.shape[0] == self.batch_size
        return _shape_key(x, y) == self._shape

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One training step on (x, y); returns the tensors the step read (for the OOM probe)."""
        if self._shape is None:
            self._shape = _shape_key(x, y)
        if self.warmups_left > 0:
            self.warmups_left -= 1
            self._warmup(x, y)
            return x, y
        if self.graph is None:
            self._capture(x, y)
        else:
            assert self.static_x is not None and self.static_y is not None
            self.static_x.copy_(x)
            self.static_y.copy_(y)
        assert self.graph is not None and self.static_x is not None and self.static_y is not None
        self.graph.replay()
        return self.static_x, self.static_y

    def _warmup(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self._side_stream is None:
            self._side_stream = torch.cuda.Stream(self.device)
        side, current = self._side_stream, torch.cuda.current_stream(self.device)
        side.wait_stream(current)
        with torch.cuda.stream(side):
            self.clear_gradients()
            self.body(x, y)
        current.wait_stream(side)

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.static_x, self.static_y = x.clone(), y.clone()
        # Gradients made inside the capture come from the graph's pool; every replay's backward
        # then writes them afresh, which is what zero_grad would have achieved.
        self.clear_gradients()
        graph = torch.cuda.CUDAGraph()
        restore_generator = _generator_restorer(self.device)
        try:
            # thread_local: a dashboard thread's CUDA calls must not break (or join) the capture.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.body(self.static_x, self.static_y)
        except torch.OutOfMemoryError:
            restore_generator()
            raise
        except Exception as exc:
            restore_generator()
            raise CaptureFailed(f"{type(exc).__name__}: {exc}") from exc
        self.graph = graph


def _generator_restorer(device: torch.device) -> Callable[[], None]:
    """A way to put the device's default random generator back as it was before a capture.

    A capture that fails never reaches the generator's capture epilogue: torch 2.11 then keeps it
    marked as capturing, and the next random draw outside a capture (the eager step's dropout,
    say) raises "Offset increment outside graph capture encountered unexpectedly". Swapping in a
    copy taken before the capture also rewinds what the capture drew, so the eager fallback
    draws the same numbers as a run that never tried."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    generator = torch.cuda.default_generators[index]
    try:
        saved = generator.clone_state()
    except (AttributeError, RuntimeError, NotImplementedError):  # a torch without graph-safe RNG
        return lambda: None

    def restore() -> None:
        # Best effort: the eager fallback must not fail for want of it (a capture that drew no
        # random numbers leaves nothing to restore).
        with contextlib.suppress(RuntimeError, NotImplementedError):
            generator.graphsafe_set_state(saved)

    return restore


def _shape_key(x: torch.Tensor, y: torch.Tensor) -> tuple:
    return (tuple(x.shape), x.stride(), x.dtype, tuple(y.shape))
