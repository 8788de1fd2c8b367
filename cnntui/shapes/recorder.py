"""Hooks on every module that record each call's shapes, in execution order.

A forward pre-hook opens a call and a forward hook closes it, so when the forward raises, the
innermost call still open is the module that was running: the failing layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from cnntui.shapes.report import Shape


def is_leaf(module: nn.Module) -> bool:
    """A module with no children: a layer, not a container of them."""
    return next(module.children(), None) is None


class _Stop(Exception):
    """Raised from a pre-hook to end a probe forward at the call it was looking for."""


def first_call(
    model: nn.Module, x: torch.Tensor, stops: Callable[[nn.Module, Any], bool]
) -> tuple[nn.Module, Any] | None:
    """The first leaf call in `model(x)` for which `stops(layer, its first argument)` holds,
    with that argument; the forward goes no further than that layer, which never runs. None
    when the forward ended or failed before any such call. `model` gets no hooks to keep."""
    found: list[tuple[nn.Module, Any]] = []

    def pre_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        first = args[0] if args else next(iter(kwargs.values()), None)
        if stops(module, first):
            # Raised again for a later call, should the forward catch the first _Stop.
            if not found:
                found.append((module, first))
            raise _Stop

    handles = [
        module.register_forward_pre_hook(pre_hook, with_kwargs=True)
        for module in model.modules()
        if is_leaf(module)
    ]
    try:
        with torch.no_grad():
            model(x)
    except Exception:  # _Stop, or a forward that fails first: `found` says which
        pass
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None


@dataclass
class Call:
    """One module call as the hooks saw it."""

    module: nn.Module
    name: str
    depth: int
    call_index: int
    input_shapes: tuple[Shape, ...]
    flops_at_start: int
    output_shapes: tuple[Shape, ...] = ()
    output_bytes: int = 0
    flops: int | None = None
    done: bool = False
    children: int = 0  # calls made inside this one


@dataclass
class CallRecorder:
    """Context manager that hooks every submodule of `root` and lists its calls."""

    root: nn.Module
    read_flops: Callable[[], int] = lambda: 0
    # Told of each call that returns, before its FLOPs are read: formula counting adds there.
    on_return: Callable[[nn.Module, tuple[Any, ...], Any], None] | None = None
    calls: list[Call] = field(default_factory=list)
    _open: list[Call] = field(default_factory=list)
    _handles: list[RemovableHandle] = field(default_factory=list)
    _times_called: dict[int, int] = field(default_factory=dict)

    def __enter__(self) -> CallRecorder:
        for name, module in self.root.named_modules():
            self._handles.append(
                module.register_forward_pre_hook(self._opener(name), with_kwargs=True)
            )
            self._handles.append(module.register_forward_hook(self._closer(), with_kwargs=True))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def innermost_open(self) -> Call | None:
        """The deepest call that started but never returned (the failing layer after an error)."""
        return self._open[-1] if self._open else None

    def innermost_module(self) -> nn.Module | None:
        """The module running now, as far as the hooks know."""
        return self._open[-1].module if self._open else None

    def open_calls(self) -> list[Call]:
        """Calls that started but never returned, outermost first."""
        return list(self._open)

    def _opener(self, name: str) -> Callable[..., None]:
        def pre_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if self._open:
                self._open[-1].children += 1
            index = self._times_called.get(id(module), 0)
            self._times_called[id(module)] = index + 1
            call = Call(
                module=module,
                name=name,
                depth=len(self._open),
                call_index=index,
                input_shapes=tensor_shapes((args, kwargs)),
                flops_at_start=self.read_flops(),
            )
            self.calls.append(call)
            self._open.append(call)

        return pre_hook

    def _closer(self) -> Callable[..., None]:
        def hook(
            module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
        ) -> None:
            if not any(call.module is module for call in self._open):
                return
            # Pop down to this module's call: a child whose error the parent caught never closed.
            while self._open:
                call = self._open.pop()
                if call.module is module:
                    if self.on_return is not None:
                        self.on_return(module, args, output)
                    tensors = list(iter_tensors(output))
                    call.output_shapes = tuple(tuple(t.shape) for t in tensors)
                    call.output_bytes = sum(t.numel() * t.element_size() for t in tensors)
                    call.flops = self.read_flops() - call.flops_at_start
                    call.done = True
                    return

        return hook


def iter_tensors(value: Any) -> Any:
    """Every tensor inside nested tuples, lists, dicts and dataclass-like outputs."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from iter_tensors(item)


def tensor_shapes(value: Any) -> tuple[Shape, ...]:
    """The shapes of every tensor inside `value`."""
    return tuple(tuple(t.shape) for t in iter_tensors(value))
