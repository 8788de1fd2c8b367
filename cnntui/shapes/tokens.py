"""Whether a model takes token ids (its input goes into an nn.Embedding first) or floats.

Declaration order cannot tell: a net that declares `self.pos = nn.Embedding(...)` for its
positions before `self.proj = nn.Linear(...)` feeds its input to the Linear, and random ids
there fail on 'mat1 and mat2 must have the same dtype'. So a probe forward with float input
watches which leaf receives the input itself, and stops there: only what the forward does
before that layer runs, on the trace's own device, so a cpu trace imports nothing new.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from cnntui.shapes.placement import make_input, model_input
from cnntui.shapes.recorder import first_call, is_leaf

EMBEDDINGS = (nn.Embedding, nn.EmbeddingBag)


def token_vocabulary(model: nn.Module, floats: torch.Tensor) -> int | None:
    """The size of the embedding `model` feeds its input to, or None when the input should be
    floats. `floats` is the float input the trace would use, on the model's device."""
    # Stopping at the first leaf fed any floats bounds the probe to one layer's worth of
    # forward: one that reshapes its input first (an MLP's x.view(n, -1)) would otherwise run
    # whole. Leaves fed ids (positions from torch.arange) are passed by.
    found = first_call(model, floats, lambda _, first: is_floats(first))
    if found is None or found[1] is not floats:
        # No leaf took the input itself (the forward casts or reshapes it first, or failed
        # before): guess from the first leaf declared, as a text net written in order has it.
        return declared_vocabulary(model)
    taker = found[0]
    return taker.num_embeddings if isinstance(taker, EMBEDDINGS) else None


def is_floats(value: Any) -> bool:
    """Whether `value` is a floating-point tensor: input that an embedding cannot take."""
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def declared_vocabulary(model: nn.Module) -> int | None:
    """The size of the embedding a model declares as its first leaf, if it does."""
    first = next(_leaves(model), None)
    return first.num_embeddings if isinstance(first, EMBEDDINGS) else None


def _leaves(model: nn.Module) -> Iterator[nn.Module]:
    return (module for module in model.modules() if is_leaf(module))


def traced_input(
    model: nn.Module, shape: Sequence[int], device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, int | None]:
    """The input a trace of `model` runs on, and the vocabulary its token ids are drawn below
    (None for floats): the size search and the hints reuse that answer rather than probe again."""
    floats = make_input(shape, device, dtype)
    vocabulary = token_vocabulary(model, floats)
    if vocabulary is None:
        return floats, None
    return model_input(shape, device, dtype, vocabulary), vocabulary
