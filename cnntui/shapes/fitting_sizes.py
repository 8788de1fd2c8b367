"""Input sizes that fit a model, found around a failing input by a size search, and the words
that name the band of them in a hint ("sides 32 to 224 work")."""

from __future__ import annotations

from cnntui.shapes.report import Shape
from cnntui.shapes.search import FITS, SideRange, SizeProbe
from cnntui.shapes.units import format_shape

NEARBY_SIDES = 16  # when sizes are not ordered, try this many sides either side of the given one

# What a size search varies, named so a hint speaks of it: an image's sides, the feature count
# of an NxF input, or the length of the token sequences an embedding net takes (NxL).
SIDES, FEATURES, TOKENS = "sides", "features", "tokens"


class SizeFinder:
    """Input sizes that run, searched around one input by tracing a meta copy of the model."""

    def __init__(
        self, probe: SizeProbe | None, input_shape: Shape, default_input: Shape | None
    ) -> None:
        self.probe = probe
        self.input_shape = input_shape
        self.default_input = default_input
        self.default_shape = default_shape(input_shape, default_input)

    def around(self, input_shape: Shape) -> SizeFinder:
        """The same search around another input (other channels, another rank)."""
        probe = self.probe.with_input(input_shape) if self.probe is not None else None
        return SizeFinder(probe, input_shape, self.default_input)

    def runs_as_given(self) -> str | None:
        """The probe's outcome for the input itself; None with nothing to trace on."""
        return self.probe.outcome_as_given() if self.probe is not None else None

    def in_band(self, smallest: bool) -> tuple[str, Shape] | None:
        """A side from the band of sides that fit, with words for it that name the band: the
        smallest when `smallest`, else the model's own side or the one nearest the given."""
        if self.probe is None or len(self.input_shape) < 2:
            return None
        sides = self.probe.fitting_sides()
        if sides is None:
            return None
        band = _band_words(sides, self.default_shape, self._varied())
        if smallest:
            suggested = self.probe.resized(sides.low)
            words = f"the smallest input that works is --input {format_shape(suggested)}{band}"
        else:
            suggested = self.probe.resized(self._preferred_side(sides))
            words = f"--input {format_shape(suggested)} fits{band}"
        return words, suggested

    def nearby(self) -> Shape | None:
        """The model's own input if it runs, else the nearest square side that does."""
        if self.probe is None or len(self.input_shape) < 2:
            return None
        shape = self.default_shape
        if shape is not None and shape != self.input_shape:
            # The probe varies square sides only, keeping the given batch and channels.
            if shape[:2] == self.input_shape[:2] and len(set(shape[2:])) == 1:
                if self.probe.fits(shape[-1]):
                    return self.probe.resized(shape[-1])
            elif self.around(shape).runs_as_given() == FITS:
                # Other channels: an MLP for 1x28x28 given 1x3x28x28 has no side that fits.
                return shape
        start = self.input_shape[-1]
        for step in range(1, NEARBY_SIDES + 1):
            for side in (start - step, start + step):
                if side >= 1 and self.probe.fits(side):
                    return self.probe.resized(side)
        return None

    def _varied(self) -> str:
        """What the search varies: the sides of an image, or the last size of an NxF input,
        which is a sequence's length in tokens for a net that starts with an embedding."""
        if len(self.input_shape) != 2:
            return SIDES
        if self.probe is not None and self.probe.vocabulary is not None:
            return TOKENS
        return FEATURES

    def _preferred_side(self, sides: SideRange) -> int:
        """The model's own size when it fits, else the fitting side nearest the given one."""
        if self.default_shape is not None and self.default_shape[-1] in sides:
            return self.default_shape[-1]
        return sides.nearest(self.input_shape[-1])


def _band_words(sides: SideRange, default_shape: Shape | None, varied: str = SIDES) -> str:
    low, high = sides.low, sides.high
    open_ended, single, between = _BANDS[varied]
    template = open_ended if high is None else single if high == low else between
    band = template.format(low=low, high=high)
    if default_shape is not None and default_shape[-1] not in sides:
        band += f"; the model is built for {format_shape(default_shape)}"
    return f" ({band})"


# How a band of fitting sizes reads, by what was varied: no upper end, one size, low to high.
_BANDS = {
    SIDES: ("sides from {low} up work", "only side {low} works", "sides {low} to {high} work"),
    FEATURES: (
        "from {low} features up work",
        "only {low} features work",
        "{low} to {high} features work",
    ),
    TOKENS: (
        "sequences of {low} tokens or more work",
        "only sequences of {low} tokens work",
        "sequences of {low} to {high} tokens work",
    ),
}


def default_shape(input_shape: Shape, default_input: Shape | None) -> Shape | None:
    """The model's own input with the given batch, when its layout matches the given input."""
    if default_input is None or len(default_input) + 1 != len(input_shape):
        return None
    return (input_shape[0], *default_input)
