"""Parameters that several layers hold (tied weights: `b.weight = a.weight`), counted once.

The model's total counts each tensor once; so does the Params column, at the first call that
runs a module holding it. A later call under which it appears again says where it was counted,
so the column adds up to the total.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch.nn.parameter import is_lazy

from cnntui.shapes.recorder import Call
from cnntui.shapes.report import LayerRow
from cnntui.wording import plural


@dataclass(frozen=True)
class Tie:
    """The parameters under one call that an earlier call, outside it, counted."""

    params: int  # under the call's module
    own_params: int  # of those, the ones registered on the module itself
    counted_at: str  # the layer whose call counted them (the first such, if several)


NO_TIE = Tie(0, 0, "")


def built(tensors: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """The tensors that have a shape: a lazy layer's stay unbuilt until a forward reaches it."""
    return [t for t in tensors if not is_lazy(t)]


def find_ties(calls: Sequence[Call]) -> list[Tie]:
    """One Tie per call, in order: each parameter belongs to the first call whose module
    registers it; a call that holds one belonging to a call outside its own span shares it."""
    first: dict[int, int] = {}
    for index, call in enumerate(calls):
        for param in built(call.module.parameters(recurse=False)):
            first.setdefault(id(param), index)
    ends = _span_ends(calls)
    ties = []
    for index, call in enumerate(calls):
        own = {id(p) for p in call.module.parameters(recurse=False)}
        tied = own_tied = 0
        counted_at: int | None = None
        for param in built(call.module.parameters()):
            at = first.get(id(param))
            if at is None or index <= at < ends[index]:
                continue  # counted here, or by a call nested in this one
            tied += param.numel()
            own_tied += param.numel() if id(param) in own else 0
            counted_at = at if counted_at is None else counted_at
        if counted_at is None:
            ties.append(NO_TIE)
        else:
            earlier = calls[counted_at]
            ties.append(Tie(tied, own_tied, earlier.name or type(earlier.module).__name__))
    return ties


def tie_notes(rows: Sequence[LayerRow]) -> list[str]:
    """A line for each layer whose own parameters are another layer's (a layer's second call
    shares its own, which its "shared" cell already says)."""
    notes = []
    for row in rows:
        if row.own_tied_params and row.call_index == 0:
            label = row.name or row.type
            if row.own_tied_params == row.own_params:
                held = f"its {plural(row.own_params, 'parameter')}"
            else:
                held = f"{row.own_tied_params:,} of its {plural(row.own_params, 'parameter')}"
            notes.append(
                f"{label} shares {held} with {row.tied_to} (tied weights): the Params column "
                f"and the total count them once, at {row.tied_to}."
            )
    return notes


def _span_ends(calls: Sequence[Call]) -> list[int]:
    """For each call, the index just past the calls made inside it."""
    ends = [len(calls)] * len(calls)
    open_calls: list[int] = []
    for index, call in enumerate(calls):
        while open_calls and calls[open_calls[-1]].depth >= call.depth:
            ends[open_calls.pop()] = index
        open_calls.append(index)
    return ends
