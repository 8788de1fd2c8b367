"""One check of a --device name for every command, so that the same mistake reads the same in
`run`, `eval` and `shapes`. Each command says which kinds it takes: a run trains on cpu, cuda or
mps; shapes traces on cpu, meta or cuda (meta holds no values, so nothing can train on it).

Only commands that already have torch loaded call this, so torch is imported at the top.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from cnntui.errors import UsageError

TRAINS_ON = ("auto", "cpu", "cuda", "mps")  # run and eval; auto picks cuda, then mps, then cpu
TRACES_ON = ("cpu", "meta", "cuda")  # shapes
# Kinds some command takes: one that this command does not take is refused for what it cannot
# do. Any other kind torch names (xpu, hpu, ...) is unknown to cnntui.
_KNOWN = frozenset(TRAINS_ON + TRACES_ON)


def check_device(name: str | torch.device, takes: Sequence[str], doing: str) -> torch.device:
    """`name` as a torch device of a kind in `takes` that this machine has, else a UsageError
    (exit 2). `doing` ("train a run") says what a known kind left out of `takes` cannot do."""
    shown = str(name)
    choices = _choices(takes)
    if shown == "auto" and "auto" in takes:
        return _auto(takes)
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {shown!r}; use {choices}") from None
    if device.type not in takes:
        if device.type in _KNOWN:
            raise UsageError(f"device {shown!r} cannot {doing}; use {choices}")
        raise UsageError(f"unknown device {shown!r}; use {choices}")
    # Checked here, not when the first tensor moves: that failed deep in the set-up, a traceback.
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device {shown}: torch sees no CUDA device here; use cpu")
        if (device.index or 0) >= count:
            seen = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise UsageError(f"--device {shown}: torch sees only {seen}")
    if device.type == "mps" and not _mps_available():
        raise UsageError(f"--device {shown}: torch sees no MPS (Apple GPU) here; use cpu")
    return device


def _auto(takes: Sequence[str]) -> torch.device:
    if "cuda" in takes and torch.cuda.is_available():
        return torch.device("cuda")
    if "mps" in takes and _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def _choices(takes: Sequence[str]) -> str:
    """'auto, cpu, cuda, cuda:N or mps': the kinds a command takes, as a user types them."""
    names = [n for kind in takes for n in ((kind, "cuda:N") if kind == "cuda" else (kind,))]
    return ", ".join(names[:-1]) + " or " + names[-1]
