"""`--input` text into a tensor shape: 1x1x224x224, 1,1,224,224, (1, 1, 224, 224), 224, 28x28."""

from __future__ import annotations

import math
import re

from cnntui.errors import UsageError

MAX_DIM = 1_000_000
MAX_ELEMENTS = 2**31
MAX_RANK = 5  # N x C x D x H x W, the largest input a Conv3d takes

# One x, × or comma with any spaces around it, or a run of spaces alone: "1, 1" and "1 x 1" are one
# separator each, so two separators in a row always mean a dimension was left empty ("28xx28").
_SEPARATOR = re.compile(r"\s*[x×,]\s*|\s+", re.IGNORECASE)
_BRACKETS = "()[]"
_COUNT_WORDS = {1: "one size is", 2: "two sizes are"}


def parse_input_shape(
    text: str,
    default_input: tuple[int, ...] | None = None,
    takes_features: bool = False,
    sequence: bool = False,
) -> tuple[int, ...]:
    """A full input shape, batch first, from `--input` text; short forms use the model's channels.

    `default_input` is the model's (C, H, W). One number is a square side and two are HxW, both
    with batch 1 and the model's channels; three are CxHxW with batch 1; four or five are the
    whole shape. For a model with no default input, two numbers are the whole NxF shape; for
    one that `takes_features` (its first layer flattens, as an MLP's does), they are when the
    second is its number of input features. A `sequence` model with no default input (its
    first layer is a Conv1d, a 1-D pool or an LSTM) takes NxCxL: three numbers are that whole
    shape and two are CxL with batch 1.
    """
    sizes = _numbers(text)
    if sequence and default_input is None and len(sizes) in (2, 3):
        shape = tuple(sizes) if len(sizes) == 3 else (1, *sizes)
    else:
        shape = _expand(text, sizes, default_input, takes_features)
    elements = math.prod(shape)
    if elements > MAX_ELEMENTS:
        raise UsageError(
            f"bad --input {text!r}: {_spell(shape)} has {elements:,} elements, "
            f"more than 2**31 = {MAX_ELEMENTS:,}"
        )
    return shape


def _numbers(text: str) -> list[int]:
    stripped = text.strip().strip(_BRACKETS).strip()
    if not stripped:
        raise UsageError(f"bad --input {text!r}: expected a shape such as 1x1x224x224 or 224")
    tokens = _SEPARATOR.split(stripped)
    if "" in tokens:
        raise UsageError(
            f"bad --input {text!r}: a dimension is empty (a separator with no size on one side); "
            "give a size between every pair of separators, e.g. 1x1x224x224"
        )
    sizes = []
    for token in tokens:
        if not token.isascii() or not token.isdigit():
            kind = "negative" if token.startswith("-") and token[1:].isdigit() else "not a number"
            raise UsageError(
                f"bad --input {text!r}: {token!r} is {kind}; sizes are positive whole numbers, "
                "e.g. 1x1x224x224"
            )
        # Check the length first: int() refuses strings of thousands of digits with ValueError.
        if len(token.lstrip("0")) > len(str(MAX_DIM)):
            raise UsageError(f"bad --input {text!r}: {token} is larger than {MAX_DIM:,}")
        size = int(token)
        if size == 0:
            raise UsageError(f"bad --input {text!r}: sizes must be at least 1, got 0")
        if size > MAX_DIM:
            raise UsageError(f"bad --input {text!r}: {size:,} is larger than {MAX_DIM:,}")
        sizes.append(size)
    if len(sizes) > MAX_RANK:
        raise UsageError(
            f"bad --input {text!r}: {len(sizes)} sizes, at most {MAX_RANK} (NxCxDxHxW)"
        )
    return sizes


def _expand(
    text: str, sizes: list[int], default_input: tuple[int, ...] | None, takes_features: bool
) -> tuple[int, ...]:
    if len(sizes) >= 4:
        return tuple(sizes)
    if len(sizes) == 3:
        return (1, *sizes)
    if len(sizes) == 2 and (
        default_input is None or (takes_features and sizes[1] == math.prod(default_input))
    ):
        # N x features: what a net that starts with a Linear or a Flatten takes (1x784). With no
        # default input there are no channels to fill in either (an image net says it wants 4-D).
        # A flattening net with a default image takes both: 28x28 is that image, as for a conv
        # net, and 4x784 is four examples of its 784 features.
        return tuple(sizes)
    if default_input is None:
        raise UsageError(
            f"--input {text!r} leaves out the channels and this model has no default input; "
            "give the whole shape, e.g. 1x3x224x224 (or 1x784 for a net of Linear layers)"
        )
    if 1 in sizes:
        # "1x1" is far more often a full shape cut short than a one-pixel image.
        read_as = "a square side" if len(sizes) == 1 else "HxW"
        example = _spell((1, *default_input))
        if takes_features:
            # `mlp --input 1x100` means N x features: say how many the net takes.
            example += f", or 1x{math.prod(default_input)} (N x its input features)"
        raise UsageError(
            f"bad --input {text!r}: {_COUNT_WORDS[len(sizes)]} read as {read_as}, and a side of 1 "
            f"looks like a shape cut short; give every dimension, e.g. {example}"
        )
    channels, *spatial = default_input
    if len(sizes) == 1:
        return (1, channels, *([sizes[0]] * max(len(spatial), 1)))
    return (1, channels, *sizes)


def _spell(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)
