"""Models with lazy layers (d2l's own style: nn.LazyConv2d, nn.LazyLinear) get their parameters
from a first forward. Nothing else works on them before that: counting parameters, moving them
to a device or a memory layout, initialising weights, tracing shapes."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin


def has_lazy_parameters(module: nn.Module) -> bool:
    return any(
        isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in module.modules()
    )


def materialize(module: nn.Module, input_shape: Sequence[int]) -> None:
    """Give `module`'s lazy layers their parameters with one forward of zeros of `input_shape`
    (batch first), in eval mode and without gradients. Raises what the forward raises."""
    if not has_lazy_parameters(module):
        return
    was_training = module.training
    module.eval()
    try:
        # The forked RNG: the lazy layers' own initial draws do not shift the run's seed.
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            module(torch.zeros(tuple(input_shape)))
    finally:
        module.train(was_training)


def materialized_copy(module: nn.Module, input_shape: Sequence[int]) -> nn.Module:
    """`module` itself when it has no lazy layers, else a copy whose layers are built."""
    if not has_lazy_parameters(module):
        return module
    built = copy.deepcopy(module)
    materialize(built, input_shape)
    return built
