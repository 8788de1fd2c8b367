"""A ReLU right before a max-pool, applied after the pool instead: the same numbers, less work.

Max-pooling and ReLU commute: max(relu(a), relu(b)) == relu(max(a, b)), and the gradients agree
too (a window's gradient reaches its largest element either way, and only when that is positive).
Pooled first, the ReLU reads and writes a quarter of the data in the forward and the backward.
AlexNet's three ReLU + max-pool pairs (d2l's 3x3, stride 2 pools) are its largest: about 4% of a
bf16 training step on an H100 (`bench/pool_variants.py`).

On CUDA, with the activations in channels_last, the pair runs as one Triton kernel each way
(cnntui.engine.pool_kernels), which keeps a byte of window index per output where PyTorch's
max-pool keeps an int64; elsewhere as max_pool2d, then relu.

Only the forward of the nn.Sequential that holds a pair changes (its class, as for the im2col
stem): the ReLU and the pool stay as they are, so whatever else calls them (a model that loops
over its Sequential to collect features, a slice of it) gets what it always got, and module
names, checkpoints and the layer table are unchanged. A pair with hooks on either module (the
health samples hook the ReLU's output) runs as written.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_globals


def run_relus_after_max_pools(model: nn.Module) -> int:
    """Make each nn.Sequential in `model` that has a ReLU directly before a max-pool apply that
    ReLU after the pool. Returns how many pairs there are. (Not under torch.compile, which fuses
    such pairs itself.)"""
    global fused_failure
    pairs = 0
    for container in model.modules():
        if type(container) is nn.Sequential:  # its forward calls each module on the last output
            found = len(pair_starts(list(container._modules.values())))
            if found:
                container.__class__ = PoolFirstSequential
                pairs += found
    if pairs:
        fused_failure = None  # a new run tries the fused kernels again
    return pairs


def pair_starts(modules: Sequence[nn.Module | None]) -> list[int]:
    """Where in `modules` (a Sequential's, repeats included) a ReLU is followed by a max-pool."""
    return [i for i in range(len(modules) - 1) if _is_pair(modules[i], modules[i + 1])]


def _is_pair(first: nn.Module | None, second: nn.Module | None) -> bool:
    # Exactly these classes: a subclass's forward may do more than rectify or pool.
    return type(first) is nn.ReLU and type(second) is nn.MaxPool2d and not second.return_indices


def _hooked(*modules: nn.Module) -> bool:
    """Whether anything watches these modules' inputs, outputs or gradients."""
    return bool(
        module_globals._global_forward_hooks
        or module_globals._global_forward_pre_hooks
        or module_globals._global_backward_hooks
        or module_globals._global_backward_pre_hooks
        or any(
            m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
            for m in modules
        )
    )


class PoolFirstSequential(nn.Sequential):
    """An nn.Sequential whose ReLU + max-pool pairs run as relu(max_pool(x))."""

    def _get_name(self) -> str:
        return "Sequential"  # the same container to anyone reading the model

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        modules = list(self._modules.values())
        i = 0
        while i < len(modules):
            module = modules[i]
            assert module is not None  # nn.Sequential holds no None
            pool = modules[i + 1] if i + 1 < len(modules) else None
            if _is_pair(module, pool) and not _hooked(module, pool):  # type: ignore[arg-type]
                input = max_pool_relu(input, pool)  # type: ignore[arg-type]
                i += 2
            else:
                input = module(input)
                i += 1
        return input


def max_pool_relu(x: torch.Tensor, pool: nn.MaxPool2d) -> torch.Tensor:
    """relu(pool(x)), through the fused kernels where they apply."""
    kernels = fused_kernels() if _runs_on_triton(x) else None
    if kernels is not None and kernels.applies(x, pool):
        wait_for_prewarm()
        try:
            return kernels.max_pool_relu(x, pool)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # Triton could not build them: no C compiler, say
            give_up_fused_kernels(exc)
    return F.relu(pool(x))


def _runs_on_triton(x: torch.Tensor) -> bool:
    """Triton is imported for CUDA tensors only (its interpreter, in the tests, runs on CPU)."""
    return x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"


# Why the fused kernels stopped being used (Triton could not build them), for the run's log.
fused_failure: str | None = None


def fused_kernels() -> ModuleType | None:
    """cnntui.engine.pool_kernels where Triton can be imported (PyTorch's CUDA builds bring it)
    and has built them; None elsewhere, and the pairs run as max_pool2d then relu."""
    return None if fused_failure else _import_kernels()


@functools.cache
def _import_kernels() -> ModuleType | None:
    try:
        from cnntui.engine import pool_kernels
    except ImportError:
        return None
    return pool_kernels


def give_up_fused_kernels(exc: Exception) -> None:
    """Pool with PyTorch's kernels for the rest of the run."""
    global fused_failure
    fused_failure = f"{type(exc).__name__}: {exc}"


def prewarm_fused_kernels(
    model: nn.Module,
    shapes: dict[str, Any] | None,
    batch: int,
    dtype: torch.dtype,
    device: torch.device,
) -> threading.Thread | None:
    """Compile the fused kernels for each pair's input at `batch` (its shape from the shapes
    trace of one example), in a thread, so that the compile overlaps the rest of the set-up. A
    kernel that fails to compile here fails again in the first step, which falls back and says
    so."""
    kernels = fused_kernels()
    if kernels is None or shapes is None:
        return None
    inputs = {row["name"]: row["input_shapes"] for row in shapes.get("rows", [])}
    work = []
    for name, container in model.named_modules():
        if isinstance(container, PoolFirstSequential):
            keys, modules = list(container._modules), list(container._modules.values())
            for i in pair_starts(modules):
                pool_inputs = inputs.get(f"{name}.{keys[i + 1]}".lstrip(".")) or []
                if len(pool_inputs) == 1:
                    work.append(((batch, *pool_inputs[0][1:]), modules[i + 1]))
    if not work:
        return None

    def compile_all() -> None:
        # Triton compiles for the thread's current device, which a new thread starts at 0.
        on_device = torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
        with contextlib.suppress(Exception), on_device:
            for shape, pool in work:
                kernels.prewarm(shape, pool, dtype)

    global _prewarm
    _prewarm = threading.Thread(target=compile_all, name="cnntui-kernel-prewarm", daemon=True)
    _prewarm.start()
    return _prewarm


_prewarm: threading.Thread | None = None  # compiling the kernels, or done


def wait_for_prewarm() -> None:
    """Let the compile under way finish: before the first call, rather than compiling the same
    kernels again beside it (Triton has no lock between threads, and two compiles share one
    GIL), and before set-up times anything on the GPU (the stem convolution)."""
    global _prewarm
    if _prewarm is not None:
        _prewarm.join()
        _prewarm = None
