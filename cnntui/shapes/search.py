"""Find input sizes a model accepts by tracing it on the meta device at other sizes.

For the usual conv-pool-flatten-linear stack, growing the input moves every failure one way: too
small (a pool would output nothing, a Linear gets too few features), then fits, then too large.
That order lets a binary search find the band of square sides that fit in a few dozen traces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cnntui.shapes.contracts import LARGER, SMALLER, batch_dim, find_mismatch
from cnntui.shapes.forward import run_recorded
from cnntui.shapes.placement import meta_cannot_run, model_input
from cnntui.shapes.recorder import Call
from cnntui.shapes.report import Shape

FITS = "fits"
OTHER = "other"  # failed in a way input size does not explain
UNKNOWN = "unknown"  # the meta device cannot run the model (data-dependent code): no verdict

SIDE_LIMIT = 4096  # largest image side tried; meta tensors make big sides cheap
FEATURE_LIMIT = 1 << 20  # largest feature count tried for NxF inputs


@dataclass(frozen=True)
class SideRange:
    """Square input sides that fit: low..high, high None when no upper limit was found."""

    low: int
    high: int | None

    def __contains__(self, side: int) -> bool:
        return side >= self.low and (self.high is None or side <= self.high)

    def nearest(self, side: int) -> int:
        """The side in the range closest to `side`."""
        if side < self.low:
            return self.low
        if self.high is not None and side > self.high:
            return self.high
        return side


class _GaveUp(Exception):
    """A probe failed for a reason that input size does not order."""


class SizeProbe:
    """Traces a meta copy of a model at other input sizes and says how each went."""

    def __init__(
        self,
        meta_model: nn.Module,
        input_shape: Shape,
        dtype: torch.dtype,
        vocabulary: int | None,
    ) -> None:
        self.model = meta_model
        self.input_shape = tuple(input_shape)
        self.dtype = dtype
        # Token ids below this size rather than floats: the trace's answer (tokens.py), kept
        # for every size tried, since a meta probe forward would cost each size a second one.
        self.vocabulary = vocabulary
        self._outcomes: dict[int, str] = {}

    @property
    def side(self) -> int:
        """The input's own side: the last dimension (an image's width, an MLP's features)."""
        return self.input_shape[-1]

    @property
    def limit(self) -> int:
        """Largest side worth trying for this input's layout."""
        return SIDE_LIMIT if len(self.input_shape) >= 3 else FEATURE_LIMIT

    def resized(self, side: int) -> Shape:
        """The input with every spatial side (or the feature count of NxF) set to `side`."""
        if len(self.input_shape) >= 3:
            return (*self.input_shape[:2], *([side] * (len(self.input_shape) - 2)))
        return (*self.input_shape[:-1], side)

    def with_input(self, input_shape: Shape) -> SizeProbe:
        """A probe of the same model around another input: other channels or another rank."""
        return SizeProbe(self.model, input_shape, self.dtype, self.vocabulary)

    def outcome(self, side: int) -> str:
        """FITS, SMALLER (input too small), LARGER (too large), OTHER or UNKNOWN, for a square
        `side`."""
        if side not in self._outcomes:
            self._outcomes[side] = self._outcome_of(self.resized(side))
        return self._outcomes[side]

    def outcome_as_given(self) -> str:
        """outcome() for the probe's own input, its sides unchanged (square or not)."""
        return self._outcome_of(self.input_shape)

    def _outcome_of(self, shape: Shape) -> str:
        x = model_input(shape, torch.device("meta"), self.dtype, self.vocabulary)
        result = run_recorded(self.model, x, count_flops=False)
        at = batch_dim(self.model, shape, (call.module for call in result.calls))
        if result.batch_mixed(shape[at], at) is not None:
            return OTHER  # it runs, but its output is not one row per sample: no fit to suggest
        outcome = _classify(result.ok, result.failing)
        if outcome == OTHER and meta_cannot_run(result.exception):
            return UNKNOWN  # real tensors might run it: no failure is known
        return outcome

    def fitting_sides(self, start: int | None = None) -> SideRange | None:
        """The band of square sides that fit, searched from `start`; None if none is found."""
        start = start or self.side
        try:
            low = self._first_not_small(start)
            if low is None or self.outcome(low) != FITS:
                return None  # from too small straight to too large: no size fits
            return SideRange(low, self._last_not_large(low))
        except _GaveUp:
            return None

    def fits(self, side: int) -> bool:
        """Whether the model runs at this square side."""
        return self.outcome(side) == FITS

    def _ordered(self, side: int) -> str:
        outcome = self.outcome(side)
        if outcome not in (FITS, SMALLER, LARGER):
            raise _GaveUp
        return outcome

    def _first_not_small(self, start: int) -> int | None:
        if self._ordered(start) != SMALLER:
            return _first_true(lambda s: self._ordered(s) != SMALLER, 1, start)
        below = start
        while below < self.limit:
            above = min(below * 2, self.limit)
            if self._ordered(above) != SMALLER:
                return _first_true(lambda s: self._ordered(s) != SMALLER, below + 1, above)
            below = above
        return None

    def _last_not_large(self, low: int) -> int | None:
        if self._ordered(self.limit) != LARGER:
            return None
        # low fits and limit is too large: the last side that is not too large lies between.
        return _first_true(lambda s: self._ordered(s) == LARGER, low + 1, self.limit) - 1


def _first_true(predicate: Callable[[int], bool], low: int, high: int) -> int:
    """Smallest s in [low, high] with predicate(s), given predicate(high) and monotonicity."""
    while low < high:
        middle = (low + high) // 2
        if predicate(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _classify(ok: bool, failing: Call | None) -> str:
    if ok:
        return FITS
    if failing is None:
        return OTHER
    mismatch = find_mismatch(failing.module, failing.input_shapes)
    if mismatch is not None and mismatch.arrived_is in (SMALLER, LARGER):
        return mismatch.arrived_is
    return OTHER
