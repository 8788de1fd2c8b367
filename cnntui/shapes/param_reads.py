"""Which parameters a forward passes to torch: a module it never calls may hold weights it uses.

nn.MultiheadAttention hands out_proj's weight to its functional form and never calls out_proj
(torchvision's Swin does the same with its qkv and proj layers), so such a module gets no row,
yet its parameters are no dead weight. A TorchFunctionMode sees every torch call with the
Parameter objects themselves among its arguments, and imports nothing (flops.py says why that
matters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn
from torch.overrides import TorchFunctionMode


class ParamReads(TorchFunctionMode):
    """Collects the ids of the parameters passed to torch calls while it is active: as
    arguments, or in a list or tuple of them (torch.cat)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[int] = set()

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        for value in (*args, *kwargs.values()):
            if isinstance(value, nn.Parameter):
                self.ids.add(id(value))
            elif isinstance(value, (list, tuple)):
                self.ids.update(id(item) for item in value if isinstance(item, nn.Parameter))
        return func(*args, **kwargs)
