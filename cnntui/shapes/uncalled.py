"""Parameters in modules the forward never calls: in the total, in no row of the table.

A row counts the parameters its module registers itself (a layer's are all its own), so those
of a module that never runs (an auxiliary head, a layer kept for later) are in the Parameters
total and in no row, and the column falls short of the total with nothing said. A note names
them and says how many they are. A module whose weights another reads without calling it
(MultiheadAttention's out_proj) is no dead weight, and gets a note of its own.
"""

from __future__ import annotations

import torch
from torch import nn

from cnntui.shapes.forward import RecordedForward
from cnntui.shapes.tied import built

MAX_NAMED = 5  # modules named in the note; the rest are counted


def uncalled_notes(model: nn.Module, result: RecordedForward) -> list[str]:
    """The notes for a forward that ran whole and never called some modules that hold
    parameters, naming the outermost of them: those it never used, and those whose weights it
    read without calling them (MultiheadAttention's out_proj); none when it called them all, or
    failed: the modules after a failure were not reached, which says nothing of whether it
    calls them."""
    if not result.ok:
        return []
    calls = result.calls
    called = {id(call.module) for call in calls}
    counted = {
        id(param) for call in calls for param in built(call.module.parameters(recurse=False))
    }
    uncounted = [p for p in built(model.parameters()) if id(p) not in counted]
    unused = [p for p in uncounted if id(p) not in result.read_params]
    read = [p for p in uncounted if id(p) in result.read_params]
    notes = []
    if unused:
        notes.append(
            f"{_count(unused)} parameters are in modules the forward never calls (in the total, "
            f"with no row of their own): {_holders(model, called, unused)}."
        )
    if read:
        notes.append(
            f"{_count(read)} parameters are read by the forward without a call of the modules "
            f"that hold them (in the total, with no row of their own): "
            f"{_holders(model, called, read)}."
        )
    return notes


def _count(params: list[torch.Tensor]) -> str:
    return f"{sum(p.numel() for p in params):,}"


def _holders(model: nn.Module, called: set[int], params: list[torch.Tensor]) -> str:
    """The outermost uncalled modules that hold `params`, with how many of them each holds."""
    left = {id(p) for p in params}
    named: list[tuple[str, int]] = []
    for name, module in model.named_modules():
        if id(module) in called or any(name.startswith(outer + ".") for outer, _ in named):
            continue
        mine = [p for p in built(module.parameters()) if id(p) in left]
        if mine:
            named.append((name, sum(p.numel() for p in mine)))
            left -= {id(p) for p in mine}  # one held by two such modules is named once
    listed = ", ".join(f"{name} ({held:,})" for name, held in named[:MAX_NAMED])
    if len(named) > MAX_NAMED:
        listed += f" and {len(named) - MAX_NAMED} more"
    return listed
