"""Time the dashboard's chart redraw against history length (up to 1,000,000 steps).

    .venv/bin/python bench/chart_redraw.py [--max-steps 1000000] [--repeat 20]

For each length it folds the steps into a RunState (windows of 50 per-step losses, as the
trainer sends them), then renders the loss and accuracy charts at a narrow (80x24 terminal) and
a wide (160x48) pane size and prints the median redraw time. A redraw is the data reduction
(DecimatingSeries.view + smoothing) plus plotext's canvas; the goal is <= 20 ms at 1M steps.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time

from cnntui.engine.events import RunStarted, StepMetrics
from cnntui.tui.app import Dashboard
from cnntui.tui.sources import ListSource
from cnntui.tui.state import RunState
from cnntui.tui.widgets.chart import MetricChart

WINDOW = 50
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


def fold(state: RunState, steps: int) -> float:
    """Feed `steps` steps as StepMetrics windows; returns the seconds it took."""
    started = time.perf_counter()
    for end in range(WINDOW, steps + 1, WINDOW):
        losses = [
            0.3 + 2.0 * math.exp(-s / (steps / 5)) + 0.05 * math.sin(s)
            for s in range(end - WINDOW + 1, end + 1)
        ]
        state.apply(
            [
                StepMetrics(
                    step=end,
                    epoch=end // 1000,
                    epoch_step=end % 1000,
                    loss=losses[-1],
                    accuracy=min(0.95, end / steps),
                    lr=0.1,
                    examples_per_sec=5e4,
                    steps_per_sec=200.0,
                    data_wait=0.01,
                    examples=end * 256,
                    elapsed=end / 200,
                    losses=losses,
                    time=0.0,
                )
            ]
        )
    return time.perf_counter() - started


def series_bytes(state: RunState) -> int:
    total = 0
    for series in (state.loss, state.train_accuracy):
        for name in ("_x_sums", "_y_sums", "_lows", "_highs"):
            values = getattr(series, name)
            total += values.buffer_info()[1] * values.itemsize
    return total


async def time_redraws(state: RunState, size: tuple[int, int], repeat: int) -> dict[str, float]:
    """Median milliseconds per render of each chart, and of the data reduction alone."""
    app = Dashboard(ListSource([]))
    app.state = state
    timings: dict[str, float] = {}
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for selector in ("#loss", "#accuracy"):
            chart = app.query_one(selector, MetricChart)
            chart.update_from(state)
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                chart.render()
                samples.append(time.perf_counter() - started)
            timings[selector[1:]] = statistics.median(samples) * 1000
        columns = app.query_one("#loss").size.width - 8
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            state.loss.view(columns)
            samples.append(time.perf_counter() - started)
        timings["view"] = statistics.median(samples) * 1000
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    lengths = [n for n in (1_000, 10_000, 100_000, 1_000_000) if n <= args.max_steps]
    header = f"{'steps':>9}  {'fold s':>7}  {'series KiB':>10}  " + "  ".join(
        f"{name + ' view':>12}  {name + ' loss':>12}  {name + ' acc':>11}" for name in SIZES
    )
    print(header)
    print("-" * len(header))
    for steps in lengths:
        state = RunState()
        state.apply(
            [
                RunStarted(
                    run_name="bench",
                    run_dir="",
                    model="lenet",
                    dataset="fmnist",
                    device="cpu",
                    device_name="cpu",
                    epochs=steps // 1000,
                    steps_per_epoch=1000,
                    batch_size=256,
                    num_params=61706,
                    classes=[],
                    config={},
                    time=0.0,
                )
            ]
        )
        folded = fold(state, steps)
        cells = []
        for size in SIZES.values():
            t = asyncio.run(time_redraws(state, size, args.repeat))
            cells.append(f"{t['view']:>9.2f} ms  {t['loss']:>9.2f} ms  {t['accuracy']:>8.2f} ms")
        print(
            f"{steps:>9,}  {folded:>7.2f}  {series_bytes(state) / 1024:>10.0f}  " + "  ".join(cells)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
