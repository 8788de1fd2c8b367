"""Bounded series storage and display downsampling: extremes survive, lengths fit the width."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnntui.tui.downsample import DecimatingSeries, ema, minmax_downsample


def test_short_series_keeps_every_sample() -> None:
    series = DecimatingSeries(capacity=16)
    series.extend([1, 2, 3], [0.5, 0.25, 0.75])
    view = series.view(80)
    assert view.xs == [1, 2, 3]
    assert view.means == [0.5, 0.25, 0.75]
    assert series.last() == 0.75


def test_memory_stays_bounded_and_extremes_survive_a_million_steps() -> None:
    rng = random.Random(7)
    ys = [2.0 * math.exp(-i / 200_000) + rng.random() * 0.1 for i in range(1_000_000)]
    ys[123_457] = 9.0  # one spike must still show at display resolution
    ys[654_321] = -1.0
    series = DecimatingSeries(capacity=1024)
    for start in range(0, len(ys), 50):  # windows as StepMetrics delivers them
        series.extend(range(start + 1, start + 51), ys[start : start + 50])
    assert len(series) == 1_000_000
    assert series.buckets() <= 1024
    view = series.view(150)
    assert len(view) <= 150
    assert max(view.highs) == 9.0
    assert min(view.lows) == -1.0
    assert view.xs == sorted(view.xs)
    assert view.xs[0] >= 1 and view.xs[-1] <= 1_000_000
    overall = sum(m * 1 for m in view.means) / len(view.means)
    assert overall == pytest.approx(sum(ys) / len(ys), rel=0.05)


def test_bucket_means_are_exact_after_merging() -> None:
    series = DecimatingSeries(capacity=4)
    series.extend(range(8), [float(i) for i in range(8)])
    # 8 samples in at most 4 buckets of 2, then merged to 2 of 4 (the last commit triggers it).
    view = series.view(100)
    assert view.means == [1.5, 5.5]
    assert view.lows == [0.0, 4.0]
    assert view.highs == [3.0, 7.0]


def test_non_finite_samples_are_counted_not_plotted() -> None:
    series = DecimatingSeries()
    series.extend([1, 2, 3, 4], [1.0, math.nan, math.inf, 2.0])
    assert series.nonfinite == 2
    assert series.view(10).means == [1.0, 2.0]


def test_capacity_must_be_even() -> None:
    with pytest.raises(ValueError):
        DecimatingSeries(capacity=3)


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=600),
    st.integers(1, 200),
)
def test_minmax_downsample_fits_width_and_keeps_extremes(ys: list[float], width: int) -> None:
    xs = list(range(len(ys)))
    out_x, out_y = minmax_downsample(xs, ys, width)
    assert len(out_x) == len(out_y) <= max(width, 1)
    assert out_x == sorted(out_x)
    if width >= 2 or len(ys) <= width:
        assert min(out_y) == min(ys)
    assert max(out_y) == max(ys)


@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=300), st.integers(1, 64)
)
def test_view_fits_width_and_keeps_extremes(ys: list[float], width: int) -> None:
    series = DecimatingSeries(capacity=32)
    series.extend(range(len(ys)), ys)
    view = series.view(width)
    assert len(view) <= width
    assert min(view.lows) == min(ys)
    assert max(view.highs) == max(ys)


def test_envelope_is_two_points_per_column() -> None:
    series = DecimatingSeries()
    series.extend(range(10), [float(i % 3) for i in range(10)])
    view = series.view(2)
    xs, ys = view.envelope()
    assert len(xs) == len(ys) == 2 * len(view)
    assert ys[0] == view.lows[0] and ys[1] == view.highs[0]


def test_ema_is_debiased_and_smooths() -> None:
    assert ema([5.0, 5.0, 5.0]) == pytest.approx([5.0, 5.0, 5.0])
    smooth = ema([0.0, 10.0, 0.0, 10.0], weight=0.6)
    assert smooth[0] == 0.0
    assert max(smooth[1:]) < 10.0
    with pytest.raises(ValueError):
        ema([1.0], weight=1.0)
