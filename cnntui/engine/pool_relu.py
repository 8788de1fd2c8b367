"""A ReLU right before a max-pool, applied after the pool instead: the same numbers, less work.

Max-pooling and ReLU commute: max(relu(a), relu(b)) == relu(max(a, b)), and the gradients agree
too (a window's gradient reaches its largest element either way, and only when that is positive).
Pooled first, the ReLU reads and writes a quarter of the data in the forward and the backward.
AlexNet's three ReLU + max-pool pairs (d2l's 3x3, stride 2 pools) are its largest: about 4% of a
bf16 training step on an H100 (`bench/pool_variants.py`).

On CUDA, with the activations in channels_last, the pair runs as one Triton kernel each way
(cnntui.engine.pool_kernels), which keeps a byte of window index per output where PyTorch's
max-pool keeps an int64; elsewhere as max_pool2d, then relu.

Only the classes change (`__class__`), as for the im2col stem: the modules keep their names and
places, checkpoints and the layer table are unchanged. The per-layer health samples hook the
ReLU's output, which must then be the rectified one: while either module of a pair has hooks,
the pair runs as written. (A sampled step runs eagerly, outside the CUDA graph, which recorded
the pair as deferred.)
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
from collections import Counter
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as module_globals


def defer_relus_past_max_pools(model: nn.Module) -> int:
    """Move each ReLU that feeds a max-pool in an nn.Sequential to after the pool. Returns how
    many pairs were changed. (Not under torch.compile, which fuses such pairs itself.)

    A pair qualifies only where nothing else can read the ReLU's output: stock nn.Sequential
    forward, both modules of exactly these classes, each used once in the model."""
    uses = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    changed = 0
    for container in model.modules():
        if type(container).forward is not nn.Sequential.forward:
            continue
        for relu, pool in itertools.pairwise(container.children()):
            if (
                type(relu) is nn.ReLU
                and type(pool) is nn.MaxPool2d
                and not pool.return_indices
                and uses[id(relu)] == 1
                and uses[id(pool)] == 1
            ):
                relu.__class__ = DeferredReLU
                pool.__class__ = MaxPoolThenReLU
                # Not a registered submodule: named_modules, state_dict and repr stay the same.
                relu.__dict__["_pool"] = pool
                pool.__dict__["_relu_deferred"] = False
                changed += 1
    return changed


def _hooked(*modules: nn.Module) -> bool:
    return bool(
        module_globals._global_forward_hooks
        or module_globals._global_forward_pre_hooks
        or any(m._forward_hooks or m._forward_pre_hooks for m in modules)
    )


class DeferredReLU(nn.ReLU):
    """An nn.ReLU that passes its input on when the max-pool after it applies the ReLU."""

    _pool: MaxPoolThenReLU

    def _get_name(self) -> str:
        return "ReLU"  # the same layer to anyone reading the model

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        defer = not _hooked(self, self._pool)
        self._pool.__dict__["_relu_deferred"] = defer
        return input if defer else super().forward(input)


class MaxPoolThenReLU(nn.MaxPool2d):
    """An nn.MaxPool2d that applies the ReLU its DeferredReLU passed on."""

    _relu_deferred: bool

    def _get_name(self) -> str:
        return "MaxPool2d"

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self._relu_deferred:
            return super().forward(input)
        kernels = fused_kernels() if _runs_on_triton(input) else None
        if kernels is not None and kernels.applies(input, self):
            _wait_for_prewarm()
            try:
                return kernels.max_pool_relu(input, self)
            except torch.OutOfMemoryError:
                raise
            except Exception as exc:  # Triton could not build it: no C compiler, say
                give_up_fused_kernels(exc)
        return F.relu(super().forward(input))


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
    """Pool with PyTorch's kernels from now on."""
    global fused_failure
    fused_failure = f"{type(exc).__name__}: {exc}"


def prewarm_fused_kernels(
    model: nn.Module, shapes: dict[str, Any] | None, batch: int, dtype: torch.dtype
) -> threading.Thread | None:
    """Compile the fused kernels for each deferred pair's input at `batch` (its shape from the
    shapes trace of one example), in a thread, so that the compile overlaps the rest of the
    set-up. A kernel that fails to compile here fails again in the first step, which falls back
    and says so."""
    kernels = fused_kernels()
    if kernels is None or shapes is None:
        return None
    inputs = {row["name"]: row["input_shapes"] for row in shapes.get("rows", [])}
    work = [
        ((batch, *inputs[name][0][1:]), pool)
        for name, pool in model.named_modules()
        if isinstance(pool, MaxPoolThenReLU) and len(inputs.get(name) or []) == 1
    ]
    if not work:
        return None

    def compile_all() -> None:
        with contextlib.suppress(Exception):
            for shape, pool in work:
                kernels.prewarm(shape, pool, dtype)

    thread = threading.Thread(target=compile_all, name="cnntui-kernel-prewarm", daemon=True)
    global _prewarm
    _prewarm = thread
    thread.start()
    return thread


_prewarm: threading.Thread | None = None  # compiling the kernels, or done


def _wait_for_prewarm() -> None:
    """The first step waits for the compile under way rather than compiling the same kernels
    again beside it: Triton has no lock between threads, and two compiles share one GIL."""
    global _prewarm
    if _prewarm is not None:
        _prewarm.join()
        _prewarm = None
