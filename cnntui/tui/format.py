"""Short human-readable numbers for narrow panes: durations, bytes, rates, percentages."""

from __future__ import annotations

import math

# Re-exported: the panes' losses and lr, written as the engine's messages write them.
from cnntui.numbers import metric as metric


def duration(seconds: float | None) -> str:
    """`1:02:03`, `2:03`; `–` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def size_bytes(value: float | None) -> str:
    """Binary units to one decimal: `1.5 GiB`."""
    if value is None:
        return "–"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"  # pragma: no cover - loop always returns


def rate(value: float | None) -> str:
    """Rates with a thousands separator or a k/M suffix: `12,345`, `1.23M`."""
    if value is None or not math.isfinite(value):
        return "–"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def percent(fraction: float | None, digits: int = 1) -> str:
    """A 0..1 fraction as a percentage."""
    if fraction is None or not math.isfinite(fraction):
        return "–"
    return f"{fraction * 100:.{digits}f}%"


def count(value: int | None) -> str:
    """Integers with thousands separators."""
    return "–" if value is None else f"{value:,}"
