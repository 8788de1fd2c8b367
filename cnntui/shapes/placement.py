"""Where a trace runs: dtype and device names, a private copy of the model there, and its input.

Tracing never touches the caller's module: the engine traces the model it is about to train, so
moving it to meta or switching it to eval in place would be a bug. The copy shares nothing but
the module structure, and on the meta device it costs no memory for weights.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from cnntui.devices import TRACES_ON, check_device
from cnntui.errors import UsageError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "half": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
    "double": torch.float64,
    "fp64": torch.float64,
}

# Hook tables a copy must not inherit: a caller's hooks (the engine's per-layer statistics) would
# otherwise run on meta tensors during our trace.
_HOOK_TABLES = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """A torch floating dtype from a name such as 'float16' or 'bf16'."""
    if isinstance(dtype, torch.dtype):
        return dtype
    name = dtype.lower().removeprefix("torch.")
    if name not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}; choose float32, float16, bfloat16 or float64")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    """'float32' for torch.float32."""
    return str(dtype).removeprefix("torch.")


def resolve_device(device: torch.device | str) -> torch.device:
    """The device a trace runs on: cpu, meta, cuda or cuda:N, checked to exist here."""
    return check_device(device, TRACES_ON, "trace shapes")


def placed_copy(module: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """A copy of `module` in eval mode on `device`, floating tensors cast to `dtype`, no hooks."""
    memo: dict[int, object] = {}
    for tensor in [*module.parameters(), *module.buffers()]:
        if id(tensor) not in memo:
            memo[id(tensor)] = _placed_tensor(tensor, device, dtype)
    placed = copy.deepcopy(module, memo)
    for sub in placed.modules():
        for table in _HOOK_TABLES:
            hooks = getattr(sub, table, None)
            if hooks is not None:
                hooks.clear()
    # eval: BatchNorm1d refuses a batch of 1 in training mode, and dropout would not change shapes.
    return placed.eval()


def _placed_tensor(tensor: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    target_dtype = dtype if tensor.is_floating_point() else tensor.dtype
    if device.type == "meta":
        data = torch.empty_like(tensor, dtype=target_dtype, device="meta")
    elif tensor.is_meta:
        # A model built on meta has no values to copy; zeros are enough to see shapes.
        data = torch.zeros(tensor.shape, dtype=target_dtype, device=device)
    elif tensor.device == device and tensor.dtype == target_dtype:
        data = tensor.detach()  # already where it should be: share, don't copy
    else:
        data = tensor.detach().to(device=device, dtype=target_dtype)
    if isinstance(tensor, nn.Parameter):
        return nn.Parameter(data, requires_grad=tensor.requires_grad)
    return data


def make_input(shape: Sequence[int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The traced input: storage-free on meta, random values on real devices."""
    if device.type == "meta":
        return torch.empty(tuple(shape), dtype=dtype, device=device)
    # Random rather than zeros so data-dependent branches see something like real data.
    generator = torch.Generator(device=device).manual_seed(0)
    return torch.randn(tuple(shape), dtype=dtype, device=device, generator=generator)


def model_input(
    shape: Sequence[int], device: torch.device, dtype: torch.dtype, vocabulary: int | None
) -> torch.Tensor:
    """The traced input: random token ids below `vocabulary` for a net that feeds its input to
    an embedding (which refuses floats; tokens.token_vocabulary), else make_input's floats."""
    if vocabulary is None:
        return make_input(shape, device, dtype)
    if device.type == "meta":
        return torch.empty(tuple(shape), dtype=torch.long, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    return torch.randint(vocabulary, tuple(shape), device=device, generator=generator)


def meta_cannot_run(exc: BaseException | None) -> bool:
    """Whether an error comes from the meta device itself (data-dependent ops), not the model."""
    if exc is None:
        return False
    return isinstance(exc, NotImplementedError) or "meta" in str(exc).lower()
