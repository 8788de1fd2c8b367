"""What the training loop does between its steps rather than in them: evaluate a split, report
an epoch that ended, and save a checkpoint, at an epoch's end or on request.

A mixin of TrainingLoop, not a part it holds: each of these reads and moves the loop's own
state (its step, epoch, best accuracy, history), and a checkpoint is that whole state
(run_records.checkpoint_state).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from cnntui.config import RunConfig
from cnntui.engine.checkpoint import save_checkpoint
from cnntui.engine.distributed import DistContext, unwrap
from cnntui.engine.evaluate import EvalResult, evaluate
from cnntui.engine.events import (
    CheckpointSaved,
    EpochSummary,
    Evaluation,
    Event,
    evaluating,
    saving,
)
from cnntui.engine.run_records import checkpoint_state
from cnntui.engine.setup import RunSetup
from cnntui.engine.tally import EpochTally

if TYPE_CHECKING:
    from cnntui.engine.loop import TrainingLoop


class EpochEnd:
    """Evaluation, epoch reports and checkpoints. Expects of its TrainingLoop the attributes
    declared."""

    config: RunConfig
    setup: RunSetup
    data: Any  # cnntui.data.DataBundle
    device: torch.device
    dist: DistContext
    step: int
    epoch: int
    best_accuracy: float | None
    history: list[dict[str, Any]]
    tally: EpochTally
    _autocast: torch.dtype | None
    _last_saved: tuple[Any, ...] | None  # what last.pt holds

    if TYPE_CHECKING:  # TrainingLoop's own

        @property
        def model(self) -> nn.Module: ...

        def emit(self, event: Event) -> None: ...
        def in_phase(self, phase: str) -> contextlib.AbstractContextManager[None]: ...
        def max_steps_reached(self) -> bool: ...

    def evaluate_split(self, split: str) -> EvalResult:
        loader = self.data.val if split == "val" else self.data.test
        # Not through DDP: its forward may broadcast buffers, a collective only rank 0 would join.
        model = unwrap(self.model) if self.dist.enabled else self.model
        with self.in_phase(evaluating(split)):
            result = evaluate(model, loader, self.data.num_classes, self.device, self._autocast)
        self.emit(
            Evaluation(
                step=self.step,
                split=split,
                loss=result.loss,
                accuracy=result.accuracy,
                classes=list(self.data.classes),
                per_class_accuracy=result.per_class_accuracy,
                confusion=result.confusion,
            )
        )
        return result

    def end_epoch(self) -> None:
        """Evaluate, report and checkpoint the epoch just trained, and move on to the next."""
        config = self.config
        summary = EpochSummary(
            epoch=self.epoch,
            step=self.step,
            train_loss=self.tally.loss,
            train_accuracy=self.tally.accuracy,
            duration=self.tally.seconds,
            examples_per_sec=self.tally.examples_per_sec,
        )
        last_epoch = self.epoch + 1 >= config.epochs or self.max_steps_reached()
        evaluate_now = (self.epoch + 1) % max(1, config.eval_every) == 0 or last_epoch
        if evaluate_now and self.dist.is_main:  # the other ranks wait at the next collective
            if self.data.val is not None:
                val = self.evaluate_split("val")
                summary.val_loss, summary.val_accuracy = val.loss, val.accuracy
            test = self.evaluate_split("test")
            summary.test_loss, summary.test_accuracy = test.loss, test.accuracy
            score = summary.val_accuracy if summary.val_accuracy is not None else test.accuracy
            if self.best_accuracy is None or score > self.best_accuracy:
                self.best_accuracy = score
                summary.best = True
        # Stamped now, not when the epoch's training ended: its evaluations were emitted in
        # between, and a reader of the stream expects times that never go backwards.
        summary.time = time.time()
        self.history.append(summary.to_dict())
        self.emit(summary)
        # The epoch is done: the run is at the next one, which checkpoints name as the place
        # to resume. So is the last.pt that a failed save here (a full disk) still attempts.
        self.epoch += 1
        if summary.best:
            self.save("best")
        if (self.epoch % max(1, config.checkpoint_every) == 0) or last_epoch:
            self.save("last")

    def save(self, reason: str) -> None:
        run_dir = self.setup.run_dir
        if run_dir is None:
            return
        name = "best.pt" if reason == "best" else "last.pt"
        # Not the step alone: a manual save on an epoch's last batch comes before the epoch's
        # end (its evaluation, a new best, the next epoch to resume at), which must be saved.
        saved = (self.step, self.epoch, self.setup.start_batch, self.best_accuracy)
        if name == "last.pt" and self._last_saved == saved:
            return  # the end of the run right after the last epoch's save: nothing new
        with self.in_phase(saving(name)):
            loop = cast("TrainingLoop", self)  # the only class this mixin is part of
            path = save_checkpoint(checkpoint_state(loop), run_dir / name)
        if name == "last.pt":
            self._last_saved = saved
        self.emit(CheckpointSaved(step=self.step, path=str(path), reason=reason))
