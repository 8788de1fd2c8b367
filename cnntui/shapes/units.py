"""Human-readable numbers for the table: 61.7 K, 1.82 G, 178 MiB, 1x96x54x54."""

from __future__ import annotations

from collections.abc import Sequence

_SI = ["", " K", " M", " G", " T", " P"]
_BINARY = [" B", " KiB", " MiB", " GiB", " TiB", " PiB"]


def _three_digits(value: float) -> str:
    # Three significant digits keep the column narrow without hiding the order of magnitude.
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def human_count(n: int) -> str:
    """A count in SI units with three significant digits: 61706 -> '61.7 K'."""
    if n < 1000:
        return str(n)
    value = float(n)
    unit = 0
    # Round before choosing the unit so 999_999 reads "1.00 M", not "1000 K".
    while unit < len(_SI) - 1 and float(_three_digits(value)) >= 1000:
        value /= 1000
        unit += 1
    return _three_digits(value) + _SI[unit]


def human_bytes(n: int) -> str:
    """A byte count in binary units: 187_056_128 -> '178 MiB'."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    unit = 0
    while unit < len(_BINARY) - 1 and float(_three_digits(value)) >= 1024:
        value /= 1024
        unit += 1
    return _three_digits(value) + _BINARY[unit]


def format_shape(shape: Sequence[int]) -> str:
    """A shape the way --input spells it: (1, 96, 54, 54) -> '1x96x54x54'."""
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def format_shapes(shapes: Sequence[Sequence[int]]) -> str:
    """Several tensors' shapes, comma separated; '' when there were none."""
    return ", ".join(format_shape(s) for s in shapes)
