"""Per-step training metrics kept on the device until the host reads a whole window at once.

Writing a step's loss into a preallocated device buffer is an asynchronous copy; only `read()`
waits for the device, and the trainer calls it at a bounded rate (every ~100 ms). That is the
difference from the textbook loop, which converts the loss to a Python float every batch and so
stalls the GPU every step.

The slot a step writes is chosen by a cursor that lives on the device, not by a Python index, so
the same recorded kernels serve every step when the whole step is captured in a CUDA graph
(`cnntui.engine.graph`): `record` is the device half (captured once, replayed), `count` the host
half (run for every step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class WindowReading:
    steps: int
    examples: int
    losses: list[float]  # per step
    sizes: list[int]  # per step, this process's examples: the losses' weights
    correct: int
    first_nonfinite_loss: int | None  # index in the window
    first_nonfinite_grad: int | None  # index in the window
    bad_grad_params: list[int]  # parameter indices with a non-finite gradient at that step
    extra: list[float] = field(default_factory=list)  # `read(extra=...)`, summed over ranks
    step_correct: list[float] = field(default_factory=list)  # per step: what `head` keeps
    lrs: list[float] = field(default_factory=list)  # per step, the rate its update used

    @property
    def mean_loss(self) -> float:
        """The mean loss per example: a short last batch weighs less than a full one, so the
        figure does not depend on how steps were grouped into windows."""
        return sum(loss * n for loss, n in zip(self.losses, self.sizes, strict=True)) / max(
            1, sum(self.sizes)
        )

    def head(self, steps: int) -> WindowReading:
        """The window's first `steps` steps: those trained up to a divergence. `examples` (all
        ranks') is cut in the proportion of this process's batches, which every rank shares."""
        if steps >= self.steps:
            return self
        kept = sum(self.sizes[:steps])
        grad = self.first_nonfinite_grad
        early_grad = grad is not None and grad < steps
        loss = self.first_nonfinite_loss
        return WindowReading(
            steps=steps,
            examples=round(self.examples * kept / max(1, sum(self.sizes))),
            losses=self.losses[:steps],
            sizes=self.sizes[:steps],
            correct=round(sum(self.step_correct[:steps])),
            first_nonfinite_loss=loss if loss is not None and loss < steps else None,
            first_nonfinite_grad=grad if early_grad else None,
            bad_grad_params=self.bad_grad_params if early_grad else [],
            extra=self.extra,
            step_correct=self.step_correct[:steps],
            lrs=self.lrs[:steps],
        )


class StepWindow:
    def __init__(
        self, capacity: int, device: torch.device, params: list[torch.nn.Parameter]
    ) -> None:
        self.capacity = capacity
        self.params = [p for p in params if p.requires_grad]
        self._loss = torch.zeros(capacity, device=device, dtype=torch.float32)
        self._correct = torch.zeros(capacity, device=device, dtype=torch.float32)
        self._grad_ok = torch.ones(capacity, len(self.params), device=device, dtype=torch.bool)
        self._cursor = torch.zeros(1, device=device, dtype=torch.int64)  # the next slot
        self._sizes: list[int] = []
        self._lrs: list[float] = []

    @property
    def full(self) -> bool:
        return len(self._sizes) >= self.capacity

    @property
    def steps(self) -> int:
        return len(self._sizes)

    def record(
        self, loss: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor, track_grads: bool
    ) -> None:
        """The device half of a step's record: loss, correct count and gradient health."""
        slot = self._cursor
        self._loss.index_copy_(0, slot, loss.detach().float().view(1))
        correct = (logits.detach().argmax(dim=1) == targets).sum()
        self._correct.index_copy_(0, slot, correct.float().view(1))
        if track_grads:
            grads = [p.grad for p in self.params if p.grad is not None]
            if len(grads) == len(self.params):
                # One fused multi-tensor kernel on CUDA: tells which layer blew up, and when.
                ok = torch.stack(torch._foreach_norm(grads)).isfinite()
                self._grad_ok.index_copy_(0, slot, ok.view(1, -1))
        self._cursor += 1

    def count(self, batch_size: int, lr: float) -> None:
        """The host half: one more step of `batch_size` examples, updated at rate `lr` (a host
        number from the schedule: no sync), is in the window."""
        self._sizes.append(batch_size)
        self._lrs.append(lr)

    def read(
        self,
        all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
        world_size: int = 1,
        extra: list[float] | None = None,
    ) -> WindowReading:
        """The window's steps; with `all_reduce` (a data-parallel run) summed over all ranks,
        losses averaged, in one collective per window, together with the `extra` numbers."""
        n = len(self._sizes)
        loss = self._loss[:n]
        grad_ok = self._grad_ok[:n]
        # Per step rather than summed: a window cut at a divergence keeps its steps' counts.
        parts = [loss, self._correct[:n], (~grad_ok.all(dim=1)).float()]
        examples = sum(self._sizes)
        if all_reduce is not None:
            tail = [float(examples), *(extra or [])]
            parts.append(torch.tensor(tail, device=loss.device, dtype=torch.float32))
            summary_tensor = all_reduce(torch.cat(parts))
            summary_tensor[:n] /= world_size  # equal shares per rank: the mean of the means
        else:
            summary_tensor = torch.cat(parts)
        summary = summary_tensor.tolist()  # sync: once per window (about every 100 ms)
        losses, step_correct, grad_bad = summary[:n], summary[n : 2 * n], summary[2 * n : 3 * n]
        reduced_extra: list[float] = []
        if all_reduce is not None:
            examples = round(summary[3 * n])
            reduced_extra = summary[3 * n + 1 :]
        first_loss = next((j for j, v in enumerate(losses) if not _finite(v)), None)
        first_grad = next((j for j, bad in enumerate(grad_bad) if bad), None)
        bad_params: list[int] = []
        if first_grad is not None:
            row = grad_ok[first_grad].tolist()  # sync: only on the way to reporting a divergence
            bad_params = [j for j, ok in enumerate(row) if not ok]
        reading = WindowReading(
            steps=n,
            examples=examples,
            losses=losses,
            sizes=self._sizes,
            correct=round(sum(step_correct)),
            first_nonfinite_loss=first_loss,
            first_nonfinite_grad=first_grad,
            bad_grad_params=bad_params,
            extra=reduced_extra,
            step_correct=step_correct,
            lrs=self._lrs,
        )
        self._sizes = []
        self._lrs = []
        self._grad_ok.fill_(True)
        self._cursor.zero_()
        return reading


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))
