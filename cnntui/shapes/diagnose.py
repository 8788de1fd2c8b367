"""Explain a failed forward: which layer, what it expected, what arrived, and what would fit."""

from __future__ import annotations

import math
import re

from torch import nn

from cnntui.shapes.contracts import Mismatch, find_mismatch
from cnntui.shapes.forward import RecordedForward
from cnntui.shapes.recorder import Call
from cnntui.shapes.report import Shape, ShapeFailure
from cnntui.shapes.search import SideRange, SizeProbe
from cnntui.shapes.units import format_shape, format_shapes

# Mismatches that a different input size can cure, so a size search is worth running.
SIZE_KINDS = ("features", "too_small", "norm_features")
NEARBY_SIDES = 16  # when sizes are not ordered, try this many sides either side of the given one

_RESHAPE_ERROR = re.compile(r"shape '\[([-\d, ]+)\]' is invalid for input of size (\d+)")


def explain_failure(
    result: RecordedForward,
    input_shape: Shape,
    model_name: str,
    default_input: Shape | None = None,
    probe: SizeProbe | None = None,
) -> ShapeFailure:
    """A ShapeFailure for a forward that raised; `probe` (a meta copy) lets it search for sizes."""
    assert result.exception is not None
    exc = result.exception
    error = _first_line(exc)
    failing = result.failing
    if failing is None:
        return ShapeFailure(
            layer="",
            layer_type=model_name,
            layer_repr=model_name,
            kind="error",
            explanation=f"The forward failed before any layer ran: {error}",
            expected=None,
            got=format_shape(input_shape),
            hint=None,
            suggested_input=None,
            error_type=type(exc).__name__,
            error=error,
        )

    advisor = _Advisor(result, failing, input_shape, model_name, default_input, probe)
    type_name = type(failing.module).__name__
    layer_repr = one_line_repr(failing.module)
    mismatch = find_mismatch(failing.module, failing.input_shapes)
    if mismatch is not None:
        kind = mismatch.kind
        expected, got = mismatch.expected, mismatch.got
        label = f"Layer {failing.name}" if failing.name else "The model"
        explanation = f"{label} {layer_repr} expects {expected} but got {got}."
        hint, suggested = advisor.for_mismatch(mismatch)
    elif failing.children:
        # The error came from the container's own code (a view, a cat, an add), not a child.
        kind, expected = "in_forward", None
        last = _last_finished_inside(result.calls, failing)
        got = format_shapes(last.output_shapes if last else failing.input_shapes)
        where = f"{type_name}.forward" + (f" (layer {failing.name})" if failing.name else "")
        after = f" after layer {last.name} gave {got}" if last else ""
        explanation = f"{where} failed{after}: {error}"
        hint, suggested = advisor.any_fitting_input(_reshape_hint(error, got, input_shape))
    else:
        kind, expected = "error", None
        got = format_shapes(failing.input_shapes)
        label = f"Layer {failing.name}" if failing.name else "The model"
        explanation = f"{label} {layer_repr} failed on input {got}: {error}"
        hint, suggested = advisor.any_fitting_input()
    return ShapeFailure(
        layer=failing.name,
        layer_type=type(failing.module).__name__,
        layer_repr=layer_repr,
        kind=kind,
        explanation=explanation,
        expected=expected,
        got=got,
        hint=hint,
        suggested_input=suggested,
        error_type=type(exc).__name__,
        error=error,
    )


def one_line_repr(module: nn.Module) -> str:
    """A leaf's repr as torch prints it; containers, whose repr spans lines, as `Name(…)`."""
    if next(module.children(), None) is None:
        text = repr(module)
        if "\n" not in text:
            return text
    return f"{type(module).__name__}(…)"


class _Advisor:
    """Turns a mismatch into a concrete next step, searching input sizes when size can help."""

    def __init__(
        self,
        result: RecordedForward,
        failing: Call,
        input_shape: Shape,
        model_name: str,
        default_input: Shape | None,
        probe: SizeProbe | None,
    ) -> None:
        self.result = result
        self.failing = failing
        self.input_shape = tuple(input_shape)
        self.model_name = model_name
        self.default_input = default_input
        self.default_shape = _default_shape(self.input_shape, default_input)
        self.probe = probe

    def for_mismatch(self, mismatch: Mismatch) -> tuple[str | None, Shape | None]:
        if mismatch.kind in ("channels", "norm_features") and mismatch.arrived_is is None:
            return self._channels(mismatch), self._channels_input(mismatch)
        if mismatch.kind in SIZE_KINDS:
            return self._sizes(mismatch)
        if mismatch.kind == "rank" and self.default_input is not None:
            shape = (self.input_shape[0], *self.default_input)
            layout = f"{len(shape)}-D input"
            return f"{self.model_name} takes {layout}: --input {format_shape(shape)}.", shape
        return self.any_fitting_input()

    def any_fitting_input(self, *extra: str | None) -> tuple[str | None, Shape | None]:
        """The model's own input if it runs, else the nearest square side that does."""
        side = self._side_that_fits()
        if side is None or self.probe is None:
            return _join(*extra), None
        suggested = self.probe.resized(side)
        return _join(f"--input {format_shape(suggested)} fits", *extra), suggested

    def _side_that_fits(self) -> int | None:
        if self.probe is None or len(self.input_shape) < 2:
            return None
        shape = self.default_shape
        # The probe varies square sides only, keeping the given batch and channels.
        if (
            shape is not None
            and shape != self.input_shape
            and shape[:2] == self.input_shape[:2]
            and len(set(shape[2:])) == 1
            and self.probe.fits(shape[-1])
        ):
            return shape[-1]
        start = self.input_shape[-1]
        for step in range(1, NEARBY_SIDES + 1):
            for side in (start - step, start + step):
                if side >= 1 and self.probe.fits(side):
                    return side
        return None

    def _is_first_layer(self) -> bool:
        """Whether the failing layer sees the model's input, untouched by any earlier layer."""
        if not self.failing.input_shapes or self.failing.input_shapes[0] != self.input_shape:
            return False
        for call in self.result.calls:
            if call is self.failing:
                return True
            if call.done and _has_own_params(call.module):
                return False
        return True

    def _channels_input(self, mismatch: Mismatch) -> Shape | None:
        if mismatch.kind != "channels" or not self._is_first_layer():
            return None
        wanted = self.failing.module.in_channels
        return (self.input_shape[0], wanted, *self.input_shape[2:])

    def _channels(self, mismatch: Mismatch) -> str | None:
        suggested = self._channels_input(mismatch)
        if suggested is not None:
            wanted = suggested[1]
            noun = "channel" if wanted == 1 else "channels"
            return (
                f"{self.model_name} takes {wanted} input {noun}: "
                f"use --input {format_shape(suggested)}."
            )
        if mismatch.fix is None:
            return None
        # Not the model's input: an earlier layer of the model itself produces what arrived.
        return f"An earlier layer of the model produces this: {mismatch.fix} would accept it."

    def _sizes(self, mismatch: Mismatch) -> tuple[str | None, Shape | None]:
        fix = None
        if mismatch.fix:
            fix = f"{mismatch.fix} would accept {format_shape(self.input_shape)}"
        sides = self._fitting_sides() if mismatch.arrived_is else None
        if sides is None:
            return self.any_fitting_input(fix)
        assert self.probe is not None
        if mismatch.kind == "too_small":
            suggested = self.probe.resized(sides.low)
            hint = f"The smallest input that works is --input {format_shape(suggested)}"
            return _join(hint + _band(sides, self.default_shape), fix), suggested
        suggested = self.probe.resized(self._preferred_side(sides))
        hint = f"--input {format_shape(suggested)} fits" + _band(sides, self.default_shape)
        return _join(hint, fix and f"or {fix}"), suggested

    def _fitting_sides(self) -> SideRange | None:
        if self.probe is None or len(self.input_shape) < 2:
            return None
        return self.probe.fitting_sides()

    def _preferred_side(self, sides: SideRange) -> int:
        """The model's own size when it fits, else the fitting side nearest the given one."""
        if self.default_shape is not None and self.default_shape[-1] in sides:
            return self.default_shape[-1]
        return sides.nearest(self.input_shape[-1])


def _band(sides: SideRange, default_shape: Shape | None) -> str:
    if sides.high is None:
        band = f"sides from {sides.low} up work"
    elif sides.high == sides.low:
        band = f"only side {sides.low} works"
    else:
        band = f"sides {sides.low} to {sides.high} work"
    if default_shape is not None and default_shape[-1] not in sides:
        band += f"; the model is built for {format_shape(default_shape)}"
    return f" ({band})"


def _reshape_hint(error: str, got: str, input_shape: Shape) -> str | None:
    """For `x.view(n, 256)` on 400 values: say how many values there are per sample."""
    match = _RESHAPE_ERROR.search(error)
    if match is None:
        return None
    size = int(match[2])
    batch = input_shape[0]
    asked = [int(d) for d in match[1].split(",")]
    if size % batch:
        return None
    per_sample = size // batch
    text = f"{got} holds {per_sample} values per sample"
    if -1 not in asked and math.prod(asked) % batch == 0:
        text += f", not {math.prod(asked) // batch}"
    return text + f": x.flatten(1) keeps them all, for a next layer that takes {per_sample}"


def _has_own_params(module: nn.Module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


def _join(*parts: str | None) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text + "." if text else None


def _default_shape(input_shape: Shape, default_input: Shape | None) -> Shape | None:
    """The model's own input with the given batch, when its layout matches the given input."""
    if default_input is None or len(default_input) + 1 != len(input_shape):
        return None
    return (input_shape[0], *default_input)


def _last_finished_inside(calls: list[Call], container: Call) -> Call | None:
    inside = False
    last = None
    for call in calls:
        if call is container:
            inside = True
        elif inside and call.depth == container.depth + 1 and call.done:
            last = call
    return last


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
