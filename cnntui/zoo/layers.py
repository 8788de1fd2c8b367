"""Building blocks shared by the zoo: named activations and pooling layers."""

from __future__ import annotations

from torch import nn

from cnntui.errors import UsageError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}

POOLS: dict[str, type[nn.Module]] = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise UsageError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
        ) from None


def pool(name: str, kernel_size: int = 2, stride: int = 2) -> nn.Module:
    try:
        return POOLS[name](kernel_size=kernel_size, stride=stride)
    except KeyError:
        raise UsageError(f"unknown pool {name!r}; choose one of {', '.join(POOLS)}") from None
