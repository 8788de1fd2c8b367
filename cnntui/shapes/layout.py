"""Whether `--input`'s sizes are sequences or an image, for a net with no default input.

Three sizes are a whole NxCxL (or NxLxF) batch for a net whose input meets a Conv1d, a 1-D pool
or an LSTM first, and one CxHxW image for a conv net; two are CxL, or a whole NxT of token ids
for a net whose input meets an embedding. The layer that counts is the one the forward calls
first, not the first declared: a CRNN may declare its GRU before the Conv2d its forward starts
with, or a net its conv head before the LSTM its input goes into. A probe forward of a copy
finds it and stops there, so only what the forward does before that layer runs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from cnntui.shapes.contracts import first_layout_layer, sets_layout, takes_sequences
from cnntui.shapes.placement import make_input, placed_copy
from cnntui.shapes.recorder import first_call
from cnntui.shapes.report import Shape
from cnntui.shapes.tokens import EMBEDDINGS, is_floats

# Larger inputs are probed on meta, as trace.REAL_MAX_ELEMENTS has them traced there.
REAL_PROBE_ELEMENTS = 1 << 20


def reads_as_sequences(model: nn.Module, as_sequences: Shape, as_images: Shape) -> bool:
    """Whether `model` takes `--input` read as sequences (`as_sequences`) rather than as an
    image or NxF (`as_images`): whether the first layer its forward feeds is a Conv1d, a 1-D
    pool or a recurrent layer, rather than another conv or pool or an embedding. A net whose
    candidate layers are all of one kind needs no forward; where the probe reaches none of them
    under either reading, the first one declared decides."""
    declared = takes_sequences(first_layout_layer(model.modules()))
    kinds = {takes_sequences(module) for module in model.modules() if _may_start(module)}
    if len(kinds) < 2:
        return declared
    # The declared reading first: where the forward is written for one rank of input, it is
    # the likelier to reach a layer at all.
    readings = (as_sequences, as_images) if declared else (as_images, as_sequences)
    for shape in readings:
        first = _first_layer_fed(model, shape)
        if first is not None:
            return takes_sequences(first)
    return declared


def _first_layer_fed(model: nn.Module, shape: Shape) -> nn.Module | None:
    """The first conv, pool, recurrent layer or embedding of token ids that a forward of
    `model` on float input of `shape` calls, run on a copy; None if it reaches none."""
    on_meta = math.prod(shape) > REAL_PROBE_ELEMENTS or any(p.is_meta for p in model.parameters())
    device = torch.device("meta" if on_meta else "cpu")
    try:
        copy = placed_copy(model, device, torch.float32)
    except Exception:  # a model that cannot be copied there (lazy parameters): not known
        return None
    found = first_call(copy, make_input(shape, device, torch.float32), _starts)
    return None if found is None else found[0]


def _may_start(module: nn.Module) -> bool:
    return sets_layout(module) or isinstance(module, EMBEDDINGS)


def _starts(module: nn.Module, first: Any) -> bool:
    if isinstance(module, EMBEDDINGS):
        # Fed floats, it is where the input goes as token ids; positions from torch.arange
        # (ids already) are passed by.
        return is_floats(first)
    return sets_layout(module)
