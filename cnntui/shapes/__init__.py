"""`cnntui shapes`: trace a model layer by layer into a ShapeReport, and explain shape errors.

The report classes need no torch, so the TUI and `watch` can rebuild a report from JSON cheaply;
`trace_model` imports torch on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnntui.shapes.report import LayerRow, ShapeFailure, ShapeReport, Totals

if TYPE_CHECKING:
    from cnntui.shapes.trace import trace_model

__all__ = ["LayerRow", "ShapeFailure", "ShapeReport", "Totals", "trace_model"]


def __getattr__(name: str) -> Any:
    if name == "trace_model":
        from cnntui.shapes.trace import trace_model

        return trace_model
    raise AttributeError(f"module 'cnntui.shapes' has no attribute {name!r}")
