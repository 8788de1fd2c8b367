"""What the common layers expect of their input, checked against what arrived.

The error torch raises depends on the device (on meta, a channel mismatch is just "Invalid channel
dimensions"), so the debugger reads expectations from the layer's own attributes instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from cnntui.shapes.report import Geometry, Shape
from cnntui.shapes.units import format_shape
from cnntui.wording import plural

CONVS: dict[type[_ConvNd], int] = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
TRANSPOSED_CONVS: dict[type[_ConvNd], int] = {
    nn.ConvTranspose1d: 1,
    nn.ConvTranspose2d: 2,
    nn.ConvTranspose3d: 3,
}
POOLS: dict[type[nn.Module], int] = {
    nn.MaxPool1d: 1,
    nn.MaxPool2d: 2,
    nn.MaxPool3d: 3,
    nn.AvgPool1d: 1,
    nn.AvgPool2d: 2,
    nn.AvgPool3d: 3,
}
BATCH_NORMS: dict[type[_BatchNorm], tuple[int, ...]] = {
    nn.BatchNorm1d: (2, 3),
    nn.BatchNorm2d: (4,),
    nn.BatchNorm3d: (5,),
}

# Mismatch kinds whose cure may be a different input size; the search in `search.py` uses them.
SMALLER = "smaller"  # what arrived is smaller than wanted: a larger input moves towards fitting
LARGER = "larger"


@dataclass(frozen=True)
class Mismatch:
    """A layer's expectation that the arriving input breaks."""

    kind: str  # features | channels | too_small | norm_features | rank
    expected: str  # "400 input features (in_features=400)"
    got: str  # "1x576 (576 features)"
    fix: str | None = None  # a layer that would accept what arrived: "Linear(576, 120)"
    arrived_is: str | None = None  # SMALLER or LARGER than wanted, when size-dependent
    min_side: int | None = None  # too_small: the smallest spatial side this layer accepts
    unflattened: bool = False  # features: per sample, exactly in_features values, not flattened


def spatial_rank(module: nn.Module) -> int | None:
    """How many spatial dimensions a conv or pool layer works on."""
    for table in (CONVS, TRANSPOSED_CONVS, POOLS):
        for cls, rank in table.items():
            if isinstance(module, cls):
                return rank
    return None


# Layers that take a batch of sequences, NxLxF (or LxNxF without batch_first): recurrent
# layers, and attention (a transformer's layers call theirs first).
SEQUENCE_LAYERS = (nn.RNNBase, nn.MultiheadAttention)


def sets_layout(module: nn.Module) -> bool:
    """A conv, pool, recurrent or attention layer: one whose kind says how its input is laid
    out."""
    return isinstance(module, SEQUENCE_LAYERS) or spatial_rank(module) is not None


def takes_sequences(layer: nn.Module | None) -> bool:
    """Whether a layer takes a batch of sequences, NxCxL or NxLxF: a Conv1d, a 1-D pool, an
    LSTM, GRU or RNN, or attention."""
    return isinstance(layer, SEQUENCE_LAYERS) or (layer is not None and spatial_rank(layer) == 1)


def batch_dim(
    model: nn.Module, input_shape: Shape, called: Iterable[nn.Module] | None = None
) -> int:
    """Where the batch is in the model's input: 1 for a recurrent net's LxNxF (an LSTM without
    batch_first, as torch makes it by default), else 0. Its first conv, pool or recurrent layer
    says: the first its forward called (`called`, the modules in call order), or where the
    calls are not known, the first it declares."""
    first = first_layout_layer(model.modules() if called is None else called)
    sequence_first = isinstance(first, SEQUENCE_LAYERS) and not first.batch_first
    return 1 if sequence_first and len(input_shape) == 3 else 0


def first_layout_layer(modules: Iterable[nn.Module]) -> nn.Module | None:
    """The first conv, pool or recurrent layer of `modules`, the one that sets the input's
    layout: of `model.modules()`, the first declared; of a forward's calls, the first called."""
    return next((module for module in modules if sets_layout(module)), None)


def layer_geometry(module: nn.Module) -> tuple[Geometry, Geometry, Geometry]:
    """(kernel_size, stride, padding) of a conv or pool layer, else three Nones."""
    rank = spatial_rank(module)
    if rank is None:
        return None, None, None
    layer: Any = module  # a conv or a pool: no common base class names these attributes
    kernel = _per_dim(layer.kernel_size, rank)
    stride = _per_dim(layer.stride or layer.kernel_size, rank)
    padding = layer.padding if isinstance(layer.padding, str) else _per_dim(layer.padding, rank)
    return kernel, stride, padding


def find_mismatch(module: nn.Module, input_shapes: tuple[Shape, ...]) -> Mismatch | None:
    """The first expectation of `module` that its input breaks, or None when none is known."""
    if not input_shapes:
        return None
    x = input_shapes[0]
    if isinstance(module, nn.Linear) and not isinstance(module, nn.LazyLinear):
        return _linear(module, x)
    rank = spatial_rank(module)
    if rank is not None and isinstance(module, _ConvNd):  # CONVS and TRANSPOSED_CONVS
        return _conv(module, x, rank)
    if rank is not None:
        return _pool(module, x, rank)
    for cls, ranks in BATCH_NORMS.items():
        if isinstance(module, cls):
            return _batch_norm(module, x, ranks)
    if isinstance(module, nn.GroupNorm):
        return _group_norm(module, x)
    if isinstance(module, nn.LayerNorm):
        return _layer_norm(module, x)
    return None


def _linear(module: nn.Linear, x: Shape) -> Mismatch | None:
    if not x:
        return Mismatch("rank", "a tensor with a feature dimension", "a scalar")
    features = x[-1]
    if features == module.in_features:
        return None
    if len(x) > 2 and math.prod(x[1:]) == module.in_features:
        # An image where a flat vector belongs: a missing nn.Flatten, not a wrong size.
        return Mismatch(
            "features",
            expected=f"{module.in_features} input features (in_features={module.in_features})",
            got=f"{format_shape(x)} ({features} features)",
            unflattened=True,
        )
    return Mismatch(
        "features",
        expected=f"{module.in_features} input features (in_features={module.in_features})",
        got=f"{format_shape(x)} ({features} features)",
        fix=f"Linear({features}, {module.out_features})",
        arrived_is=SMALLER if features < module.in_features else LARGER,
    )


def _conv(module: _ConvNd, x: Shape, rank: int) -> Mismatch | None:
    name = type(module).__name__
    if len(x) not in (rank + 1, rank + 2):
        return _rank_mismatch(name, rank + 2, x)
    channels = x[1] if len(x) == rank + 2 else x[0]
    if channels != module.in_channels:
        # Keep everything after in_channels from the layer's own repr: kernel, stride, padding...
        _, _, rest = module.extra_repr().partition(", ")
        return Mismatch(
            "channels",
            expected=f"{plural(module.in_channels, 'input channel')} "
            f"(in_channels={module.in_channels})",
            got=f"{format_shape(x)} ({plural(channels, 'channel')})",
            fix=f"{name}({channels}, {rest})",
        )
    if isinstance(module, tuple(TRANSPOSED_CONVS)) or module.padding == "same":
        return None
    # A string here is "valid": "same" returned above.
    padding = (0,) * rank if isinstance(module.padding, str) else _per_dim(module.padding, rank)
    needed = [
        d * (k - 1) + 1 - 2 * p
        for k, d, p in zip(module.kernel_size, module.dilation, padding, strict=True)
    ]
    return _too_small(module, x, rank, needed)


def _pool(module: Any, x: Shape, rank: int) -> Mismatch | None:
    # `module` is a MaxPool or an AvgPool: no common base class names their attributes.
    name = type(module).__name__
    if len(x) not in (rank + 1, rank + 2):
        return _rank_mismatch(name, rank + 2, x)
    kernel = _per_dim(module.kernel_size, rank)
    stride = _per_dim(module.stride or module.kernel_size, rank)
    padding = _per_dim(module.padding, rank)
    dilation = _per_dim(getattr(module, "dilation", 1), rank)
    sides = x[-rank:]
    rounding = math.ceil if module.ceil_mode else math.floor
    outputs = [
        rounding((side + 2 * p - d * (k - 1) - 1) / s) + 1
        for side, k, s, p, d in zip(sides, kernel, stride, padding, dilation, strict=True)
    ]
    if min(outputs) >= 1:
        return None
    needed = [d * (k - 1) + 1 - 2 * p for k, p, d in zip(kernel, padding, dilation, strict=True)]
    return _too_small(module, x, rank, needed)


def _too_small(module: nn.Module, x: Shape, rank: int, needed: list[int]) -> Mismatch | None:
    sides = x[-rank:]
    if all(side >= need for side, need in zip(sides, needed, strict=True)):
        return None
    need = [max(n, 1) for n in needed]
    return Mismatch(
        "too_small",
        expected=f"an input of at least {format_shape(need)} per channel",
        got=f"{format_shape(x)}",
        arrived_is=SMALLER,
        min_side=max(need),
    )


def _batch_norm(module: _BatchNorm, x: Shape, ranks: tuple[int, ...]) -> Mismatch | None:
    name = type(module).__name__
    if len(x) not in ranks:
        return _rank_mismatch(name, ranks[-1], x)
    features = x[1]
    if features == module.num_features:
        return None
    noun = "channel" if len(x) > 2 else "feature"
    # After a Flatten, the feature count grows with the input size; after a conv it does not.
    arrived_is = None
    if len(x) == 2:
        arrived_is = SMALLER if features < module.num_features else LARGER
    return Mismatch(
        "norm_features",
        expected=f"{plural(module.num_features, noun)} (num_features={module.num_features})",
        got=f"{format_shape(x)} ({plural(features, noun)})",
        fix=f"{name}({features})",
        arrived_is=arrived_is,
    )


def _group_norm(module: nn.GroupNorm, x: Shape) -> Mismatch | None:
    if len(x) < 2 or x[1] == module.num_channels:
        return None
    channels = x[1]
    fix = (
        f"GroupNorm({module.num_groups}, {channels})" if channels % module.num_groups == 0 else None
    )
    return Mismatch(
        "norm_features",
        expected=f"{plural(module.num_channels, 'channel')} (num_channels={module.num_channels})",
        got=f"{format_shape(x)} ({plural(channels, 'channel')})",
        fix=fix,
    )


def _layer_norm(module: nn.LayerNorm, x: Shape) -> Mismatch | None:
    wanted = tuple(module.normalized_shape)
    if tuple(x[-len(wanted) :]) == wanted:
        return None
    return Mismatch(
        "norm_features",
        expected=f"trailing dimensions {format_shape(wanted)} (normalized_shape={list(wanted)})",
        got=format_shape(x),
        fix=f"LayerNorm({list(x[-len(wanted) :])})" if len(x) >= len(wanted) else None,
    )


def _rank_mismatch(name: str, rank: int, x: Shape) -> Mismatch:
    return Mismatch(
        "rank",
        expected=f"a {rank}-D input ({_layout(rank)})",
        got=f"{format_shape(x)} ({len(x)}-D)",
    )


def _layout(rank: int) -> str:
    return {2: "NxC", 3: "NxCxL", 4: "NxCxHxW", 5: "NxCxDxHxW"}.get(rank, f"{rank} dims")


def _per_dim(value: int | tuple[int, ...], rank: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank
