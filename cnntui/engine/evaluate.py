"""Batched evaluation: loss, accuracy and the confusion matrix, with one host sync at the end."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class EvalResult:
    loss: float
    accuracy: float
    confusion: list[list[int]]  # rows: true class, columns: predicted

    @property
    def per_class_accuracy(self) -> list[float]:
        return [row[i] / max(1, sum(row)) for i, row in enumerate(self.confusion)]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
) -> EvalResult:
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    confusion = torch.zeros(num_classes * num_classes, device=device, dtype=torch.int64)
    try:
        for x, y in batches:
            with torch.autocast(
                device.type,
                dtype=autocast_dtype or torch.float32,
                enabled=autocast_dtype is not None,
            ):
                logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
            pred = logits.argmax(dim=1)
            confusion += torch.bincount(y * num_classes + pred, minlength=num_classes**2)
    finally:
        model.train(was_training)
    # sync: once per evaluation, after every batch has been queued.
    matrix = confusion.view(num_classes, num_classes).tolist()
    total = sum(map(sum, matrix))
    correct = sum(matrix[i][i] for i in range(num_classes))
    return EvalResult(
        loss=loss_sum.item() / max(1, total),  # sync: same single end-of-evaluation read
        accuracy=correct / max(1, total),
        confusion=matrix,
    )
