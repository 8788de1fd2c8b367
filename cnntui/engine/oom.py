"""Out of device memory: find a batch size that fits, so the message can name one."""

from __future__ import annotations

from collections.abc import Callable

import torch

StepProbe = Callable[[int], None]  # runs one forward/backward at the given batch size


def largest_fitting_batch(probe: StepProbe, failed_batch: int) -> int | None:
    """Halve from the batch that failed until a step fits; None when even 1 does not."""
    batch = failed_batch // 2
    while batch >= 1:
        try:
            probe(batch)
            return batch
        except torch.OutOfMemoryError:
            batch //= 2
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return None


def out_of_memory_message(device: torch.device, failed_batch: int, fits: int | None) -> str:
    where = str(device)
    if fits is None:
        return (
            f"{where} ran out of memory; not even a batch of 1 fits with this model and input "
            "size. Try a smaller --resize, --amp bf16, or a smaller model."
        )
    return (
        f"{where} ran out of memory at batch size {failed_batch}; a batch of {fits} fits: "
        f"run with --batch-size {fits} (and scale --lr down with it)."
    )
