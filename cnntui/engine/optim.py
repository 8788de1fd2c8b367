"""Optimisers, learning-rate schedules with warm-up, and weight initialisation from a RunConfig."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any, cast

import torch
from torch import nn

from cnntui.config import RunConfig
from cnntui.errors import UsageError

BUILTIN_CLASSES = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
}


def build_optimizer(
    config: RunConfig,
    params: Iterable[nn.Parameter],
    device: torch.device,
    capturable: bool = False,
) -> torch.optim.Optimizer:
    """The optimiser the config names, with fused or foreach kernels where the device has them;
    `capturable`: its step will be recorded in a CUDA graph (state such as Adam's step count then
    lives on the device)."""
    name = config.optimizer.lower()
    params = list(params)
    builtin_options: dict[str, dict[str, Any]] = {
        "sgd": {
            "momentum": config.momentum,
            "nesterov": config.nesterov,
            "weight_decay": config.weight_decay,
        },
        "adam": {"weight_decay": config.weight_decay},
        "adamw": {"weight_decay": config.weight_decay},
        "rmsprop": {"momentum": config.momentum, "weight_decay": config.weight_decay},
    }
    cls = optimizer_class(config.optimizer)
    kwargs = builtin_options.get(name, {})
    kwargs = {**kwargs, **config.optimizer_args, "lr": config.lr}
    accepted = inspect.signature(cls).parameters
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        names = ", ".join(p for p in accepted if p not in ("self", "params"))
        raise UsageError(
            f"optimizer {cls.__name__} takes no argument {', '.join(unknown)} (it takes: {names})"
        )
    # Fused kernels do the whole update in one launch per parameter group on CUDA.
    if device.type == "cuda" and "fused" in accepted and "fused" not in kwargs:
        kwargs["fused"] = True
    if capturable and "capturable" in accepted and "capturable" not in kwargs:
        kwargs["capturable"] = True
    try:
        optimizer = cls(params, **kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UsageError(f"optimizer {cls.__name__}: {exc}") from None
    if kwargs.get("capturable"):
        # The eager warm-up steps before a capture are by design; torch would warn about them.
        optimizer._warned_capturable_if_run_uncaptured = True
    return optimizer


def step_is_capturable(name: str) -> bool:
    """Whether the optimiser's step can be recorded in a CUDA graph and replayed: SGD keeps no
    state on the host, and the others must offer `capturable` (their state then stays on the
    device). Anything else would compute its host-side numbers once, in the capture."""
    cls = optimizer_class(name)
    return cls is torch.optim.SGD or "capturable" in inspect.signature(cls).parameters


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """The torch.optim class a name means, in any case: `SGD`, `sgd` and `Sgd` are one."""
    return BUILTIN_CLASSES.get(name.lower()) or _optimizer_class(name)


# torch.optim classes that cannot train a model here: LBFGS and SparseAdam were built, then
# failed the run at its first step (a run directory left behind, exit 1); Muon refused every
# model when built, yet was offered among the choices.
UNTRAINABLE = {
    "lbfgs": "its step needs a closure that evaluates the loss again, which the loop does not pass",
    "sparseadam": "it takes sparse gradients only, and the models' layers make dense ones",
    "muon": "it takes 2-D parameters only, and a CNN's conv weights (4-D) and biases (1-D) are not",
}


def _optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    candidates = {
        attr.lower(): getattr(torch.optim, attr)
        for attr in dir(torch.optim)
        if isinstance(getattr(torch.optim, attr), type)
        and issubclass(getattr(torch.optim, attr), torch.optim.Optimizer)
        and getattr(torch.optim, attr) is not torch.optim.Optimizer
        and attr.lower() not in UNTRAINABLE
    }
    if name.lower() in UNTRAINABLE:
        raise UsageError(
            f"optimizer {name} cannot train here: {UNTRAINABLE[name.lower()]}; use sgd, adam, "
            "adamw, rmsprop or another torch.optim class"
        )
    cls = candidates.get(name.lower())
    if cls is None:
        raise UsageError(
            f"unknown optimizer {name!r}; use sgd, adam, adamw, rmsprop or a torch.optim class "
            f"({', '.join(sorted(c.__name__ for c in candidates.values()))})"
        )
    return cls


def build_schedule(
    config: RunConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step schedule: linear warm-up, then constant, step decay, cosine, or one-cycle."""
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total - 1, round(config.warmup_epochs * steps_per_epoch))
    if config.schedule == "onecycle":
        pct = warmup / total if warmup else 0.3
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total, pct_start=pct
        )

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "step":
            return config.gamma ** ((step // steps_per_epoch) // max(1, config.step_size))
        if config.schedule == "cosine":
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def initialize_weights(model: nn.Module, scheme: str) -> None:
    """d2l's xavier init: Linear and Conv2d weights only, biases as PyTorch made them."""
    if scheme == "default":
        return
    for module in model.modules():
        if type(module) in (nn.Linear, nn.Conv2d):
            weight = cast(torch.Tensor, module.weight)
            if scheme == "xavier":
                nn.init.xavier_uniform_(weight)
            elif scheme == "kaiming":
                nn.init.kaiming_uniform_(weight, nonlinearity="relu")
