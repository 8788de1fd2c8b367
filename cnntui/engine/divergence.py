"""Divergence: a non-finite loss stops the run with the step and the layer that started it."""

from __future__ import annotations

from cnntui.engine.health import HealthMonitor
from cnntui.engine.window import WindowReading
from cnntui.numbers import metric


class Diverged(Exception):
    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


# A loss this many times where it began (or 1, if it began lower) is a run blowing up: still
# finite, so not divergence, but a cross-entropy in the thousands means logits thousands apart.
BLOWING_UP_FACTOR = 1000.0


class DivergenceWatch:
    """Reads each metric window for non-finite losses and gradients; finds a Diverged, and
    warns once of a loss that has grown a thousandfold while staying finite."""

    def __init__(self, health: HealthMonitor, lr: float) -> None:
        self.health = health
        self.lr = lr
        # The window records gradient norms per parameter tensor, in this (forward) order.
        self.param_names = [
            name
            for name, module in health.param_layers
            for p in module.parameters(recurse=False)
            if p.requires_grad
        ]
        self.first_bad_gradient: tuple[int, str] | None = None
        self.starting_loss: float | None = None  # this process's first step's
        self.warned_blowing_up = False

    @property
    def advice(self) -> str:
        """What to try when the loss runs away, finite or not."""
        return f"Try a lower learning rate (now {metric(self.lr)}) or --set grad_clip=1.0."

    def check(self, reading: WindowReading, first_step: int, epoch: int) -> Diverged | None:
        """Diverged on a non-finite loss, naming the step and the layer that started it; the
        caller reports the steps up to that one before it raises it."""
        if reading.first_nonfinite_grad is not None and self.first_bad_gradient is None:
            # Kept across windows: the gradient often breaks one step before the loss does,
            # and that step may have been read in the previous window.
            layer = self.param_names[reading.bad_grad_params[0]]
            self.first_bad_gradient = (first_step + reading.first_nonfinite_grad, layer)
        if reading.first_nonfinite_loss is None:
            return None
        bad_step = first_step + reading.first_nonfinite_loss
        value = reading.losses[reading.first_nonfinite_loss]
        where = ""
        if self.first_bad_gradient is not None:
            grad_step, layer = self.first_bad_gradient
            where = f"; the first non-finite gradient was in layer {layer!r} at step {grad_step}"
        else:
            layer = self.health.first_nonfinite_gradient()
            if layer is not None:
                where = f"; the first layer with a non-finite gradient is {layer!r}"
        return Diverged(
            # No "training diverged:" in front: every place that shows this message shows the
            # run's status ("diverged") beside it.
            f"loss became {value} at step {bad_step} (epoch {epoch + 1}){where}. {self.advice}",
            bad_step,
        )

    def blowing_up(self, reading: WindowReading, first_step: int) -> str | None:
        """A warning, the first time a step's loss passes BLOWING_UP_FACTOR times the first
        step's: `--lr 1e6` on LeNet reaches a loss of 1e31 and never NaN, so without this
        a run that has stopped learning would train on to its end without a word."""
        if self.warned_blowing_up or not reading.losses:
            return None
        if self.starting_loss is None:
            # The first step's: it saw weights no update had touched yet.
            self.starting_loss = reading.losses[0]
        limit = BLOWING_UP_FACTOR * max(self.starting_loss, 1.0)
        index, worst = max(enumerate(reading.losses), key=lambda pair: pair[1])
        if not worst > limit:
            return None
        self.warned_blowing_up = True
        return (
            # Written as the dashboard writes losses and lr: 1.7e7, not 1.69e+07 beside it.
            f"the loss reached {metric(worst, 3)} at step {first_step + index}, from "
            f"{metric(self.starting_loss, 3)} at the start: training is blowing up. {self.advice}"
        )
