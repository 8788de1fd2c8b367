"""Explain a failed forward: which layer, what it expected, what arrived, and what would fit."""

from __future__ import annotations

import inspect
import math
import re
from typing import cast

from torch import nn
from torch.nn.modules.conv import _ConvNd

from cnntui.shapes.contracts import LARGER, SMALLER, Mismatch, find_mismatch, spatial_rank
from cnntui.shapes.fitting_sizes import SizeFinder
from cnntui.shapes.forward import RecordedForward
from cnntui.shapes.recorder import Call, is_leaf
from cnntui.shapes.report import Shape, ShapeFailure
from cnntui.shapes.search import FITS, UNKNOWN, SizeProbe
from cnntui.shapes.units import format_shape, format_shapes
from cnntui.wording import plural

# Mismatches that a different input size can cure, so a size search is worth running.
SIZE_KINDS = ("features", "too_small", "norm_features")

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
        inputs = _forward_inputs(failing.module) if failing.depth == 0 else []
        if isinstance(exc, TypeError) and len(inputs) > 1:
            hint, suggested = _one_input_hint(type_name, inputs), None
        else:
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


def _forward_inputs(module: nn.Module) -> list[str]:
    """The names of the arguments a module's forward cannot do without."""
    try:
        parameters = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in positional and p.default is p.empty]


def _one_input_hint(type_name: str, inputs: list[str]) -> str:
    return (
        f"{type_name}.forward takes {len(inputs)} inputs ({', '.join(inputs)}) and cnntui "
        f"traces one tensor: point it at a module whose forward({inputs[0]}) makes the others "
        "and calls this one."
    )


def one_line_repr(module: nn.Module) -> str:
    """A leaf's repr as torch prints it; containers, whose repr spans lines, as `Name(…)`."""
    if is_leaf(module):
        text = repr(module)
        if "\n" not in text:
            return text
    return f"{type(module).__name__}(…)"


class _Advisor:
    """Turns a mismatch into a concrete next step, searching input sizes when size can help.

    Every input it suggests has been traced on a meta copy of the model and runs: a hint that
    fixes one problem and walks into the next would send the user round in circles.
    """

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
        self.sizes = SizeFinder(probe, self.input_shape, default_input)

    def for_mismatch(self, mismatch: Mismatch) -> tuple[str | None, Shape | None]:
        if mismatch.unflattened:
            return self._unflattened()
        if mismatch.kind in ("channels", "norm_features") and mismatch.arrived_is is None:
            return self._channels(mismatch)
        if mismatch.kind in SIZE_KINDS:
            return self._sizes(mismatch)
        if mismatch.kind == "rank" and self.default_input is not None:
            return self._rank(self.default_input)
        if mismatch.kind == "rank":
            return self._rank_from_first_layer()
        return self.any_fitting_input()

    def any_fitting_input(self, *extra: str | None) -> tuple[str | None, Shape | None]:
        """The model's own input if it runs, else the nearest square side that does."""
        suggested = self.sizes.nearby()
        if suggested is None:
            return _join(*extra), None
        return _join(f"--input {format_shape(suggested)} fits", *extra), suggested

    def _rank(self, default_input: Shape) -> tuple[str | None, Shape | None]:
        shape = (self.input_shape[0], *default_input)
        takes = f"{self.model_name} takes {len(shape)}-D input"
        if self.sizes.around(shape).runs_as_given() != FITS:
            return f"{takes}.", None
        return f"{takes}: --input {format_shape(shape)}.", shape

    def _rank_from_first_layer(self) -> tuple[str | None, Shape | None]:
        """A model with no default input whose first conv got only its sides: `--input 28x28`
        for a Conv2d(1, ...) means 1x1x28x28, a batch of 1 with the conv's channels, or the
        nearest square side that runs with them. Given more dimensions than it takes, see
        `_fewer_dims`."""
        module = self.failing.module
        rank = spatial_rank(module)
        if rank is None or not self._is_first_layer():
            return None, None
        if len(self.input_shape) > rank + 2:
            return self._fewer_dims(rank)
        in_channels = getattr(module, "in_channels", None)  # convs have it; pools do not
        if not isinstance(in_channels, int) or len(self.input_shape) != rank:
            return None, None
        shape = (1, in_channels, *self.input_shape)
        takes = f"{self.model_name} takes {len(shape)}-D input ({_LAYOUTS[rank]})"
        sizes = self.sizes.around(shape)
        outcome = sizes.runs_as_given()
        if outcome == FITS:
            return f"{takes}: --input {format_shape(shape)}.", shape
        nearby = sizes.nearby() if outcome != UNKNOWN else None
        if nearby is None:
            return f"{takes}.", None
        return f"{takes}: --input {format_shape(nearby)} fits.", nearby

    def _fewer_dims(self, rank: int) -> tuple[str | None, Shape | None]:
        """A first conv or pool given more dimensions than it takes (1x2x10x10 into a Conv1d):
        the input with its leading 1s dropped, else its batch, channels and last sides (1x2x10),
        else the nearest side that runs with either; nothing when no such input traces."""
        x = self.input_shape
        extra = len(x) - (rank + 2)
        candidates = [x[extra:]] if all(d == 1 for d in x[:extra]) else []
        kept = (x[0], x[1], *x[-rank:])
        candidates.append(kept)
        takes = f"{self.model_name} takes {rank + 2}-D input ({_LAYOUTS[rank]})"
        for shape in candidates:
            if self.sizes.around(shape).runs_as_given() == FITS:
                return f"{takes}: --input {format_shape(shape)}.", shape
        for shape in candidates:
            nearby = self.sizes.around(shape).nearby()
            if nearby is not None:
                return f"{takes}: --input {format_shape(nearby)} fits.", nearby
        return None, None  # the explanation already names the layout it takes

    def _unflattened(self) -> tuple[str | None, Shape | None]:
        """A Linear given NxCxHxW whose C*H*W is its in_features: it works on the last side
        only, so no image size fits; flattening does. The model's input flat, if it runs."""
        x = self.failing.input_shapes[0]
        values = math.prod(x[1:])
        hint = (
            f"{format_shape(x)} holds {values} values per sample, as many as the layer takes: "
            "put nn.Flatten() before it (or x.flatten(1) in forward)"
        )
        flat = (self.input_shape[0], values)
        if self._is_first_layer() and self.sizes.around(flat).runs_as_given() == FITS:
            return f"{hint}, or give it --input {format_shape(flat)}.", flat
        return f"{hint}.", None

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

    def _channels(self, mismatch: Mismatch) -> tuple[str | None, Shape | None]:
        if mismatch.kind == "channels" and self._is_first_layer():
            conv = cast(_ConvNd, self.failing.module)  # only convs raise a channels mismatch
            return self._with_channels(conv.in_channels)
        if mismatch.fix is None:
            return None, None
        # Not the model's input: an earlier layer of the model itself produces what arrived.
        return f"An earlier layer of the model produces this: {mismatch.fix} would accept it.", None

    def _with_channels(self, wanted: int) -> tuple[str | None, Shape | None]:
        """The input with the channels the first layer takes, resized too when that alone fails:
        lenet on 3x8x8 needs one channel and a larger image, and should hear both at once."""
        batch, _, *spatial = self.input_shape
        rechanneled = (batch, wanted, *spatial)
        takes = f"{self.model_name} takes {plural(wanted, 'input channel')}"
        sizes = self.sizes.around(rechanneled)
        outcome = sizes.runs_as_given()
        if outcome in (None, UNKNOWN):
            return f"{takes}.", None  # no trace can confirm a suggestion
        if outcome == FITS:
            return f"{takes}: use --input {format_shape(rechanneled)}.", rechanneled
        problem = f"{takes}, and {format_shape(rechanneled)} {_SIZE_PROBLEMS.get(outcome, _OTHER)}"
        found = sizes.in_band(smallest=outcome == SMALLER) if outcome in _SIZE_PROBLEMS else None
        if found is None:
            nearby = sizes.nearby()
            found = (f"--input {format_shape(nearby)} fits", nearby) if nearby else None
        if found is None:
            return f"{problem}; no input size that runs was found.", None
        words, suggested = found
        return f"{problem}: {words}.", suggested

    def _sizes(self, mismatch: Mismatch) -> tuple[str | None, Shape | None]:
        fix = None
        if mismatch.fix:
            fix = f"{mismatch.fix} would accept {format_shape(self.input_shape)}"
        too_small = mismatch.kind == "too_small"
        found = self.sizes.in_band(smallest=too_small) if mismatch.arrived_is else None
        if found is None:
            nearby = self.sizes.nearby()
            found = (f"--input {format_shape(nearby)} fits", nearby) if nearby else None
        if found is None:
            return _join(fix), None
        words, suggested = found
        if too_small:
            words = words[0].upper() + words[1:]
        # Two ways out, said alike in every hint: "--input … fits; or Linear(…) would accept …".
        return _join(words, fix and f"or {fix}"), suggested


_LAYOUTS = {1: "NxCxL", 2: "NxCxHxW", 3: "NxCxDxHxW"}  # by spatial rank

# How an input with the right channels can still fail, by what the size search found.
_SIZE_PROBLEMS = {SMALLER: "is too small for it", LARGER: "is too large for it"}
_OTHER = "does not run either"


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
