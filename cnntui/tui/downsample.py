"""Long metric series at display resolution: bounded storage, min/max downsampling, smoothing.

A million-step run must redraw as fast as a hundred-step one, and a week-long run must not grow
the dashboard's memory: `DecimatingSeries` keeps at most `capacity` buckets whatever the length
(the full resolution stays in events.jsonl), and `view(width)` costs O(capacity) at most.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class SeriesView:
    """At most `width` points of a series: mean x, mean y and the y range of each column."""

    xs: list[float] = field(default_factory=list)
    means: list[float] = field(default_factory=list)
    lows: list[float] = field(default_factory=list)
    highs: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.xs)

    def envelope(self) -> tuple[list[float], list[float]]:
        """Each column's low and high as two points in a row, so spikes survive downsampling."""
        xs: list[float] = []
        ys: list[float] = []
        for x, low, high in zip(self.xs, self.lows, self.highs, strict=True):
            xs += [x, x]
            ys += [low, high]
        return xs, ys


class DecimatingSeries:
    """(x, y) samples kept in at most `capacity` equal-count buckets of sum, min and max.

    When the buckets fill up, neighbours merge pairwise and the bucket size doubles: memory stays
    O(capacity) for any length, and each bucket still knows its mean and extremes exactly.
    Non-finite samples are counted in `nonfinite` and left out, so one NaN cannot blank a chart.
    """

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.capacity = capacity
        self.bucket_size = 1
        self.count = 0
        self.nonfinite = 0
        self.first_x: float | None = None  # the x of the first finite sample, kept exactly
        self.last_x: float | None = None  # the largest x of a finite sample, kept exactly
        self._x_sums = array("d")
        self._y_sums = array("d")
        self._lows = array("d")
        self._highs = array("d")
        self._clear_pending()

    def __len__(self) -> int:
        return self.count

    def _clear_pending(self) -> None:
        self._p_count = 0
        self._p_x = 0.0
        self._p_y = 0.0
        self._p_low = math.inf
        self._p_high = -math.inf

    def append(self, x: float, y: float) -> None:
        self.extend([x], [y])

    def extend(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        """Add samples in x order; whole buckets are summed with slices, not one by one."""
        pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        self.nonfinite += len(ys) - len(pairs)
        if not pairs:
            return
        fx = [p[0] for p in pairs]
        fy = [p[1] for p in pairs]
        if self.first_x is None:
            self.first_x = fx[0]
        # The largest, not the latest: a run resumed from an earlier checkpoint goes on, in its
        # log, from a step before the earlier session's last.
        self.last_x = max(fx) if self.last_x is None else max(self.last_x, max(fx))
        i, n = 0, len(fy)
        while i < n:
            take = min(self.bucket_size - self._p_count, n - i)
            chunk = fy[i : i + take]
            self._p_x += math.fsum(fx[i : i + take])
            self._p_y += math.fsum(chunk)
            self._p_low = min(self._p_low, min(chunk))
            self._p_high = max(self._p_high, max(chunk))
            self._p_count += take
            self.count += take
            i += take
            if self._p_count == self.bucket_size:
                self._commit_pending()

    def _commit_pending(self) -> None:
        self._x_sums.append(self._p_x)
        self._y_sums.append(self._p_y)
        self._lows.append(self._p_low)
        self._highs.append(self._p_high)
        self._clear_pending()
        if len(self._y_sums) >= self.capacity:
            self._merge_pairs()

    def _merge_pairs(self) -> None:
        def pairwise(values: array, combine) -> array:
            return array("d", map(combine, values[0::2], values[1::2]))

        self._x_sums = pairwise(self._x_sums, operator.add)
        self._y_sums = pairwise(self._y_sums, operator.add)
        self._lows = pairwise(self._lows, min)
        self._highs = pairwise(self._highs, max)
        self.bucket_size *= 2

    def buckets(self) -> int:
        """Buckets held now, the partly filled one included."""
        return len(self._y_sums) + (1 if self._p_count else 0)

    def last(self) -> float | None:
        """Mean of the newest bucket (the latest value while buckets hold one sample)."""
        if self._p_count:
            return self._p_y / self._p_count
        if self._y_sums:
            return self._y_sums[-1] / self.bucket_size
        return None

    def view(self, width: int) -> SeriesView:
        """The whole series in at most `width` columns (mean, low and high per column)."""
        width = max(1, width)
        x_sums = list(self._x_sums)
        y_sums = list(self._y_sums)
        lows = list(self._lows)
        highs = list(self._highs)
        counts = [self.bucket_size] * len(y_sums)
        if self._p_count:
            x_sums.append(self._p_x)
            y_sums.append(self._p_y)
            lows.append(self._p_low)
            highs.append(self._p_high)
            counts.append(self._p_count)
        group = max(1, math.ceil(len(y_sums) / width))
        view = SeriesView()
        for start in range(0, len(y_sums), group):
            end = start + group
            n = sum(counts[start:end])
            view.xs.append(sum(x_sums[start:end]) / n)
            view.means.append(sum(y_sums[start:end]) / n)
            view.lows.append(min(lows[start:end]))
            view.highs.append(max(highs[start:end]))
        return view


def minmax_downsample(
    xs: Sequence[float], ys: Sequence[float], width: int
) -> tuple[list[float], list[float]]:
    """At most `width` points keeping each bucket's min and max in x order (spikes survive)."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    if len(ys) <= width:
        return list(xs), list(ys)
    if width < 2:
        i = max(range(len(ys)), key=ys.__getitem__)
        return [xs[i]], [ys[i]]
    buckets = width // 2
    size = len(ys) / buckets
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(buckets):
        start, end = int(b * size), int((b + 1) * size)
        chunk = ys[start:end]
        lo = start + min(range(len(chunk)), key=chunk.__getitem__)
        hi = start + max(range(len(chunk)), key=chunk.__getitem__)
        for i in sorted({lo, hi}):
            out_x.append(xs[i])
            out_y.append(ys[i])
    return out_x, out_y


def ema(values: Sequence[float], weight: float = 0.6) -> list[float]:
    """Debiased exponential moving average (TensorBoard's smoothing): no pull towards zero."""
    if not 0 <= weight < 1:
        raise ValueError("weight must be in [0, 1)")
    out: list[float] = []
    last = 0.0
    for n, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**n))
    return out
