"""Parameters in modules the forward never calls: in the total, in no row of the table.

A row counts the parameters its module registers itself (a layer's are all its own), so those
of a module that never runs (an auxiliary head, a layer kept for later) are in the Parameters
total and in no row, and the column falls short of the total with nothing said. A note names
them and says how many they are.
"""

from __future__ import annotations

from torch import nn

from cnntui.shapes.forward import RecordedForward
from cnntui.shapes.tied import built

MAX_NAMED = 5  # modules named in the note; the rest are counted


def uncalled_notes(model: nn.Module, result: RecordedForward) -> list[str]:
    """The note for a forward that ran whole and never called some modules that hold
    parameters, naming the outermost of them; none when it called them all, or failed: the
    modules after a failure were not reached, which says nothing of whether it calls them."""
    if not result.ok:
        return []
    calls = result.calls
    called = {id(call.module) for call in calls}
    counted = {
        id(param) for call in calls for param in built(call.module.parameters(recurse=False))
    }
    uncounted = [p for p in built(model.parameters()) if id(p) not in counted]
    if not uncounted:
        return []
    left = {id(p) for p in uncounted}
    named: list[tuple[str, int]] = []
    for name, module in model.named_modules():
        if id(module) in called or any(name.startswith(outer + ".") for outer, _ in named):
            continue
        mine = [p for p in built(module.parameters()) if id(p) in left]
        if mine:
            named.append((name, sum(p.numel() for p in mine)))
            left -= {id(p) for p in mine}  # one held by two such modules is named once
    total = sum(p.numel() for p in uncounted)
    listed = ", ".join(f"{name} ({held:,})" for name, held in named[:MAX_NAMED])
    if len(named) > MAX_NAMED:
        listed += f" and {len(named) - MAX_NAMED} more"
    return [
        f"{total:,} parameters are in modules the forward never calls (in the total, with no "
        f"row of their own): {listed}."
    ]
