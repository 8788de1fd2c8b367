"""Short numbers shared by the engine's messages and the dashboard, so that a warning and the
pane beside it write a figure the same way (`1.7e7`, not `1.69e+07` by `1.7e7`)."""

from __future__ import annotations

import math


def metric(value: float | None, digits: int = 4) -> str:
    """Losses, norms and rates: `digits` significant digits, scientific when tiny or huge."""
    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"  # 2.0e-4, not 2.0e-04: table columns are tight
    return f"{value:.{digits}g}"
