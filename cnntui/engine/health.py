"""Per-layer health every N steps: gradient and weight norms, update ratios, activation stats.

These are the numbers that show why sigmoid LeNet starts slowly (tiny gradients in the first
layers, saturated activations) and when ReLU units die. Hooks are attached only for the sampled
step, so the other steps pay nothing.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from cnntui.engine.events import LayerHealth, LayerStat

MIN_SECONDS_BETWEEN_SAMPLES = 0.25  # the dashboard shows a few a second at most

ACTIVATION_TYPES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Hardswish,
)
# Units of these can die: a unit whose output is zero for every example gets no gradient.
RECTIFIERS = (nn.ReLU, nn.ReLU6)


class HealthMonitor:
    def __init__(
        self, model: nn.Module, every: int, min_seconds: float = MIN_SECONDS_BETWEEN_SAMPLES
    ) -> None:
        self.every = every
        self.min_seconds = min_seconds  # 0: every `every` steps whatever the clock says
        self.param_layers = [
            (name, module)
            for name, module in model.named_modules()
            if any(p.requires_grad for p in module.parameters(recurse=False))
        ]
        self.act_layers = [
            (name, module)
            for name, module in model.named_modules()
            if isinstance(module, ACTIVATION_TYPES)
        ]
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []
        self._act_stats: dict[str, list[torch.Tensor]] = {}
        self._weights_before: list[list[torch.Tensor]] = []
        self._last_sample = -math.inf

    def due(self, step: int) -> bool:
        """Every `every` steps, but no more often than the dashboard can show: a sample costs an
        eager step (hooks; no CUDA graph) and a host sync, which at thousands of steps a second
        would cost more than the samples are worth."""
        if self.every <= 0 or step % self.every != 0:
            return False
        now = time.monotonic()
        if now - self._last_sample < self.min_seconds:
            return False
        self._last_sample = now
        return True

    def begin(self) -> None:
        """Call before the sampled step's forward."""
        self._act_stats = {}
        for name, module in self.act_layers:
            self._hooks.append(module.register_forward_hook(self._activation_hook(name, module)))
        self._weights_before = [
            [p.detach().clone() for p in module.parameters(recurse=False)]
            for _, module in self.param_layers
        ]

    def _activation_hook(self, name: str, module: nn.Module):
        rectifier = isinstance(module, RECTIFIERS)

        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor) or output.dim() < 2:
                return
            out = output.detach().float()
            stats = [out.mean(), out.std()]
            if rectifier:
                # A unit (feature or channel) is dead if it is zero for every example and place.
                dims = [d for d in range(out.dim()) if d != 1]
                stats.append((out.amax(dim=dims) <= 0).float().mean())
            self._act_stats[name] = stats

        return hook

    def end(self, step: int) -> LayerHealth:
        """Call after the sampled step's optimizer update; reads everything in one sync."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
        values: list[torch.Tensor] = []
        layout: list[tuple[str, str, int]] = []  # (layer, kind, how many values)
        for (name, module), before in zip(self.param_layers, self._weights_before, strict=True):
            params = list(module.parameters(recurse=False))
            grads = [p.grad.detach().float() for p in params if p.grad is not None]
            weight = torch.stack([p.detach().float().norm() for p in params]).norm()
            update = torch.stack(
                [
                    (p.detach().float() - b.float()).norm()
                    for p, b in zip(params, before, strict=True)
                ]
            ).norm()
            grad = torch.stack([g.norm() for g in grads]).norm() if grads else weight.new_zeros(())
            values += [grad, weight, update]
            layout.append((name, "param", 3))
        for name, stats in self._act_stats.items():
            values += stats
            layout.append((name, "act", len(stats)))
        self._weights_before = []
        if not values:
            return LayerHealth(step=step, layers=[])
        device = values[0].device
        flat = torch.stack([v.to(device) for v in values]).tolist()  # sync: health sample only

        layers: dict[str, LayerStat] = {}
        i = 0
        for name, kind, count in layout:
            chunk = flat[i : i + count]
            i += count
            stat = layers.setdefault(name, LayerStat(name=name))
            if kind == "param":
                stat.grad_norm, stat.weight_norm = chunk[0], chunk[1]
                stat.update_ratio = chunk[2] / chunk[1] if chunk[1] else math.inf
            else:
                stat.act_mean, stat.act_std = chunk[0], chunk[1]
                stat.dead_fraction = chunk[2] if count > 2 else None
        return LayerHealth(step=step, layers=list(layers.values()))

    def first_nonfinite_gradient(self) -> str | None:
        """Name of the first layer, in registration order, whose gradient is not finite."""
        for name, module in self.param_layers:
            for p in module.parameters(recurse=False):
                if p.grad is not None and not torch.isfinite(p.grad).all():  # sync: failure path
                    return name
        return None
