"""Small helpers for the words around numbers in what the user reads."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """`1 epoch`, `2 epochs`, `1,177 steps`: the count and its noun, singular only for one."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
