"""A layer table row: the shape report's static facts and the latest health sample, judged.

No Textual, no torch: the thresholds and the judgement are unit-tested on plain values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cnntui.engine.events import LayerStat

# Thresholds for colouring a layer; rough on purpose, they flag a layer worth a closer look.
VANISHING_GRAD = 1e-7
EXPLODING_GRAD = 1e3
DEAD_FRACTION = 0.5


def as_float(value: Any) -> float | None:
    """Event numbers as floats: a replayed events.jsonl brings NaN and inf back as strings."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def layer_condition(stat: LayerStat | None) -> str:
    """`ok`, `vanishing`, `exploding` or `dead`; empty when nothing was measured yet."""
    if stat is None:
        return ""
    grad = as_float(stat.grad_norm)
    if grad is not None:
        if not math.isfinite(grad) or grad > EXPLODING_GRAD:
            return "exploding"
        if grad < VANISHING_GRAD:
            return "vanishing"
    std = as_float(stat.act_std)
    if std is not None and not math.isfinite(std):
        return "exploding"
    dead = as_float(stat.dead_fraction)
    if dead is not None and dead > DEAD_FRACTION:
        return "dead"
    return "ok"


def format_shape(shape: Any) -> str:
    """`[6, 28, 28]` → `6×28×28` (the caller drops the batch dimension)."""
    if isinstance(shape, (list, tuple)):
        return "×".join(str(d) for d in shape)
    return "" if shape is None else str(shape)


@dataclass
class LayerRow:
    """One row of the layer table: the static shape report plus the latest health sample."""

    name: str
    type: str = ""
    output_shape: str = ""
    params: int | None = None  # its own, tied ones not again: the column adds up to the total
    tied: bool = False  # some of its parameters are an earlier layer's (tied weights)
    stat: LayerStat | None = None

    @property
    def condition(self) -> str:
        return layer_condition(self.stat)


def rows_from_shapes(shapes: dict[str, Any] | None) -> list[LayerRow]:
    """Leaf layers of `ShapeReport.to_dict()`; containers and repeat calls would only repeat."""
    if not isinstance(shapes, dict):
        return []
    result = []
    for row in shapes.get("rows") or []:
        if not isinstance(row, dict) or not row.get("name"):  # "" is the model itself
            continue
        if row.get("is_leaf") is False or row.get("call_index", 0):
            continue
        outputs = row.get("output_shapes") or []
        params, tied = _as_int(row.get("params")), _as_int(row.get("tied_params")) or 0
        result.append(
            LayerRow(
                name=str(row["name"]),
                type=str(row.get("type") or ""),
                output_shape=format_shape(outputs[0][1:]) if outputs else "",
                params=None if params is None else params - tied,
                tied=tied > 0,
            )
        )
    return result


def _as_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


CONDITION_TEXT = {
    "vanishing": "gradient vanishing",
    "exploding": "gradient exploding or not finite",
    "dead": f"more than {DEAD_FRACTION:.0%} of units dead",
}
