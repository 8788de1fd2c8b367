"""Deriving independent, reproducible seeds from a run seed and stream coordinates."""

from __future__ import annotations

_MASK64 = (1 << 64) - 1


def mix_seed(*parts: int) -> int:
    """A well-spread 63-bit seed from integers (SplitMix64 over each part in turn)."""
    # Plain `seed + epoch` would make run seed 1 epoch 0 replay run seed 0 epoch 1; mixing keeps
    # every (seed, stream, epoch, batch) its own random stream.
    state = 0x9E3779B97F4A7C15
    for part in parts:
        state = (state ^ (part & _MASK64)) & _MASK64
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        state = z ^ (z >> 31)
    return state >> 1  # torch generators take seeds below 2**63 without complaint
