"""`--input` parsing: every spelling of a valid shape, and one-line UsageErrors for the rest."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnntui.errors import UsageError
from cnntui.shapes.inputs import MAX_DIM, MAX_ELEMENTS, parse_input_shape

LENET_INPUT = (1, 28, 28)

SPELLINGS = {
    "x": lambda dims: "x".join(dims),
    "X": lambda dims: "X".join(dims),
    "comma": lambda dims: ",".join(dims),
    "tuple": lambda dims: "(" + ", ".join(dims) + ")",
    "list": lambda dims: "[" + ",".join(dims) + "]",
    "spaces": lambda dims: " ".join(dims),
}

sizes = st.integers(min_value=1, max_value=4096)
full_shapes = st.lists(sizes, min_size=4, max_size=5).filter(
    lambda dims: math.prod(dims) <= MAX_ELEMENTS
)


def spell(shape: tuple[int, ...] | list[int], style: str) -> str:
    return SPELLINGS[style]([str(d) for d in shape])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1x1x224x224", (1, 1, 224, 224)),
        ("1,1,224,224", (1, 1, 224, 224)),
        ("(1, 1, 224, 224)", (1, 1, 224, 224)),
        ("224", (1, 1, 224, 224)),
        ("28x28", (1, 1, 28, 28)),
        ("1x28x28", (1, 1, 28, 28)),
        ("3x32x32", (1, 3, 32, 32)),
        (" 64x1x224x224 ", (64, 1, 224, 224)),
        ("1×1×28×28", (1, 1, 28, 28)),
        ("2x1x8x28x28", (2, 1, 8, 28, 28)),
    ],
)
def test_spellings(text: str, expected: tuple[int, ...]) -> None:
    assert parse_input_shape(text, LENET_INPUT) == expected


def test_short_form_uses_the_models_channels() -> None:
    assert parse_input_shape("224", (3, 224, 224)) == (1, 3, 224, 224)
    assert parse_input_shape("96x64", (3, 224, 224)) == (1, 3, 96, 64)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1x1", "cut short"),
        ("axb", "not a number"),
        ("0x1x28x28", "at least 1"),
        ("1x1x28x-28", "negative"),
        ("1x1x2000000x2", "larger than"),
        ("100000x100x1000x1000", "elements"),
        ("1x1x2x3x4x5", "at most 5"),
        ("", "expected a shape"),
        ("()", "expected a shape"),
        ("1.5x28", "not a number"),
    ],
)
def test_rejections_are_one_line_usage_errors(text: str, words: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_input_shape(text, LENET_INPUT)
    message = str(raised.value)
    assert words in message
    assert "\n" not in message


def test_a_cut_short_shape_for_a_flattening_net_names_its_features_too() -> None:
    # For an MLP, 1x100 is most likely N x features; the message offered the image shape alone.
    with pytest.raises(UsageError) as raised:
        parse_input_shape("1x100", LENET_INPUT, takes_features=True)
    assert str(raised.value).endswith("e.g. 1x1x28x28, or 1x784 (N x its input features)")
    with pytest.raises(UsageError) as raised:
        parse_input_shape("1x100", LENET_INPUT)
    assert str(raised.value).endswith("e.g. 1x1x28x28")


@pytest.mark.parametrize(
    "text", ["1x28x28x", "28xx28", "x28x28", "1x1x", "1xx28", "1,,28", "1, ,28", "(1, 1, 28,)"]
)
def test_an_empty_dimension_is_rejected_as_one(text: str) -> None:
    # Some of these used to pass with the empty part dropped, others to fail as "cut short".
    with pytest.raises(UsageError, match="a dimension is empty") as raised:
        parse_input_shape(text, LENET_INPUT)
    assert "cut short" not in str(raised.value)


@given(
    full_shapes,
    st.sampled_from(["x", "X", ",", "×", ", ", " x "]),
    st.data(),
)
def test_a_separator_more_anywhere_is_an_empty_dimension(
    shape: list[int], separator: str, data: st.DataObject
) -> None:
    parts = [str(d) for d in shape]
    # At 0 the extra separator leads, at len(parts) it trails, anywhere else it doubles one.
    at = data.draw(st.integers(min_value=0, max_value=len(parts)))
    between = 2 if 0 < at < len(parts) else 1
    text = separator.join(parts[:at]) + separator * between + separator.join(parts[at:])
    with pytest.raises(UsageError, match="a dimension is empty"):
        parse_input_shape(text, LENET_INPUT)


def test_short_form_needs_a_default_input() -> None:
    with pytest.raises(UsageError, match="whole shape"):
        parse_input_shape("224", None)
    assert parse_input_shape("3x224x224", None) == (1, 3, 224, 224)


@given(full_shapes, st.sampled_from(sorted(SPELLINGS)))
def test_full_shapes_round_trip_in_every_spelling(shape: list[int], style: str) -> None:
    assert parse_input_shape(spell(shape, style), LENET_INPUT) == tuple(shape)


chw_shapes = st.lists(sizes, min_size=3, max_size=3).filter(
    lambda dims: math.prod(dims) <= MAX_ELEMENTS
)


@given(chw_shapes, st.sampled_from(sorted(SPELLINGS)))
def test_chw_gets_batch_one(shape: list[int], style: str) -> None:
    assert parse_input_shape(spell(shape, style), LENET_INPUT) == (1, *shape)


@given(st.integers(min_value=2, max_value=MAX_DIM // 100), st.sampled_from(sorted(SPELLINGS)))
def test_one_side_is_a_square_image(side: int, style: str) -> None:
    assert parse_input_shape(spell([side], style), (3, 32, 32)) == (1, 3, side, side)


bad_sizes = st.one_of(
    st.just("0"),
    st.integers(max_value=-1).map(str),
    st.integers(min_value=MAX_DIM + 1).map(str),
    st.sampled_from(["a", "1.0", "1e3", "+1", "²", "--", "0x10"]),
)


@given(
    st.lists(st.integers(min_value=1, max_value=64).map(str), min_size=3, max_size=3),
    bad_sizes,
    st.integers(min_value=0, max_value=3),
    st.sampled_from(sorted(SPELLINGS)),
)
def test_a_bad_size_anywhere_is_rejected(
    good: list[str], bad: str, position: int, style: str
) -> None:
    dims = [*good[:position], bad, *good[position:]]
    with pytest.raises(UsageError):
        parse_input_shape(SPELLINGS[style](dims), LENET_INPUT)


@given(st.text(alphabet="0123456789x,()[] -.ab×", max_size=30))
def test_any_text_parses_or_raises_usage_error(text: str) -> None:
    try:
        shape = parse_input_shape(text, LENET_INPUT)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert 4 <= len(shape) <= 5
        assert all(1 <= d <= MAX_DIM for d in shape)
        assert math.prod(shape) <= MAX_ELEMENTS


def test_a_sequence_model_takes_three_sizes_as_its_whole_input() -> None:
    # A net of Conv1d layers takes NxCxL: three sizes are that shape, two are CxL with batch 1;
    # read as CxHxW, 1x2x10 became 1x1x2x10, which no Conv1d accepts.
    assert parse_input_shape("1x2x10", None, sequence=True) == (1, 2, 10)
    assert parse_input_shape("2x10", None, sequence=True) == (1, 2, 10)
    assert parse_input_shape("8x2x10x10", None, sequence=True) == (8, 2, 10, 10)
    assert parse_input_shape("1x2x10", None) == (1, 1, 2, 10)
