"""What a forward returned, in one line, when it was more than one tensor.

The trace keeps this (ShapeReport.returned) so that a run's check of what its model returns
(engine/model_returns.py) need not run the eval-mode forward again.
"""

from __future__ import annotations

from typing import Any

import torch

from cnntui.shapes.units import format_shape

# Entries of a returned dict or tuple that are named; the rest are counted.
SHOWN_ENTRIES = 4


def returned_structure(output: Any) -> str | None:
    """describe(output) when a forward returned anything but one tensor, else None."""
    return None if isinstance(output, torch.Tensor) else describe(output)


def describe(value: Any, depth: int = 0) -> str:
    """What a forward returned, one line: "dict {'logits': 1x10}", "a tuple (2x10, 2x10)"."""
    if isinstance(value, torch.Tensor):
        return format_shape(tuple(value.shape))
    kind = type(value).__name__
    if depth > 1:
        return kind
    if isinstance(value, dict):
        items = [f"{key!r}: {describe(item, depth + 1)}" for key, item in value.items()]
        return f"{_article(value, dict)}{kind} {{{_joined(items)}}}"
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        fields: dict[str, Any] = value._asdict()  # type: ignore[attr-defined]
        items = [f"{key}={describe(item, depth + 1)}" for key, item in fields.items()]
        return f"{kind}({_joined(items)})"
    if isinstance(value, (tuple, list)):
        items = [describe(item, depth + 1) for item in value]
        brackets = "()" if isinstance(value, tuple) else "[]"
        return f"{_article(value, type(value))}{kind} {brackets[0]}{_joined(items)}{brackets[1]}"
    return "None" if value is None else f"a {kind}"


def _article(value: Any, base: type) -> str:
    # "a dict", "a tuple"; a subclass's own name (ImageClassifierOutput) goes without.
    return "a " if type(value) is base else ""


def _joined(items: list[str]) -> str:
    if len(items) <= SHOWN_ENTRIES:
        return ", ".join(items)
    return ", ".join(items[:SHOWN_ENTRIES]) + f", ... ({len(items)} in all)"
