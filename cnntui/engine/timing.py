"""Timing a few passes at set-up, where the engine picks the faster of two ways to train
(the memory layout on the CPU, cnntui.engine.layout; the stem convolution on CUDA,
cnntui.engine.stem)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def best_seconds_per_call(
    call: Callable[[], None], device: torch.device, rounds: int, calls_per_round: int = 1
) -> float:
    """The best of `rounds` rounds of `call()`, in seconds per call, after one call that warms up
    (oneDNN's kernel caches, cuDNN's autotuning, cuBLAS's handles). On CUDA each round is timed
    between synchronisations, so it counts the kernels and not only their launches."""
    call()
    best = float("inf")
    for _ in range(rounds):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(calls_per_round):
            call()
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / calls_per_round)
    return best


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
