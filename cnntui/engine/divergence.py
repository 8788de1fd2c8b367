"""Divergence: a non-finite loss stops the run with the step and the layer that started it."""

from __future__ import annotations

from cnntui.engine.health import HealthMonitor
from cnntui.engine.window import WindowReading


class Diverged(Exception):
    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


class DivergenceWatch:
    """Reads each metric window for non-finite losses and gradients; raises Diverged."""

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

    def check(self, reading: WindowReading, first_step: int, epoch: int) -> None:
        """Raise Diverged on a non-finite loss, naming the step and the layer that started it."""
        if reading.first_nonfinite_grad is not None and self.first_bad_gradient is None:
            # Kept across windows: the gradient often breaks one step before the loss does,
            # and that step may have been read in the previous window.
            layer = self.param_names[reading.bad_grad_params[0]]
            self.first_bad_gradient = (first_step + reading.first_nonfinite_grad, layer)
        if reading.first_nonfinite_loss is None:
            return
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
        raise Diverged(
            # No "training diverged:" in front: every place that shows this message shows the
            # run's status ("diverged") beside it.
            f"loss became {value} at step {bad_step} "
            f"(epoch {epoch + 1}){where}. Try a lower learning rate (now {self.lr}) "
            "or --set grad_clip=1.0.",
            bad_step,
        )
