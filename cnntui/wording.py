"""Small helpers for the words around numbers in what the user reads."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def plural(count: int, noun: str) -> str:
    """`1 epoch`, `2 epochs`, `1,177 steps`: the count and its noun, singular only for one."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def batch_words(batch_size: int, data: dict[str, Any] | None) -> str:
    """`256`, or what a step really takes when the batch size is more than the training set
    holds: the loader gives every example in one step, and `1 step of 100000` misled."""
    examples = (data or {}).get("train_examples")
    if not isinstance(examples, int) or batch_size <= examples:
        return str(batch_size)
    return f"{examples:,} (the whole training set: batch size {batch_size:,} is larger)"


def did_you_mean(name: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.5) -> str:
    """` (did you mean lenet or lenet-bn?)` for the choices closest to a mistyped name, each
    once; "" when none is close."""
    close = dict.fromkeys(difflib.get_close_matches(name, list(choices), n=n, cutoff=cutoff))
    return f" (did you mean {' or '.join(close)}?)" if close else ""
