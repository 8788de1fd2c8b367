"""A pooling module's window as (height, width) pairs, however its arguments were written
(`2`, `(2, 2)`, `[2, 2]`; a stride left out is the kernel's)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

Pair = tuple[int, int]


def pair(value: int | Sequence[int]) -> Pair:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[-1])


def window(pool: nn.MaxPool2d | nn.AvgPool2d) -> tuple[Pair, Pair, Pair]:
    """The pool's kernel, stride and padding."""
    return pair(pool.kernel_size), pair(pool.stride or pool.kernel_size), pair(pool.padding)
