"""What drawing costs training, within one run: the dashboard draws and idles by turns.

    python -m bench.draw_cost --preset lenet --epochs 4 --phase 4 --rounds 3 [--device cuda]

Separate runs on a shared machine drift by more than the few percent in question (LeNet on this
2-core box: 9,000 to 12,000 ex/s from one headless run to the next), so this compares within
one run. `cnntui run PRESET --exit-on-finish` runs in a 160x48 pseudo-terminal with
CNNTUI_BENCH_DRAW_PHASES=PHASE: the dashboard takes in events and draws only in the even
PHASE-second slices of the wall clock and leaves the odd ones alone. The training thread reports
its throughput every ~100 ms (events.jsonl); each window counts for the slice its midpoint falls
in, windows within MARGIN of a slice boundary are left out (a redraw started just before it), so
is the first epoch (start-up), and drawing/idle is the throughput training keeps while drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from bench.dashboard import dashboard
from cnntui.tui.pacing import DRAW_PHASES_ENV, drawing_phase

MARGIN = 0.3  # seconds either side of a slice boundary whose windows are not counted (at most)


def phase_rates(events_file: Path, phase: float, skip_epochs: int = 1) -> dict[str, float]:
    """Examples/sec over the drawing and the idle slices of one run's training windows."""
    margin = min(MARGIN, phase / 8)
    examples = {True: 0.0, False: 0.0}
    seconds = {True: 0.0, False: 0.0}
    previous = 0
    for line in events_file.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") != "step":
            continue
        window_examples, previous = event["examples"] - previous, event["examples"]
        if event["epoch"] < skip_epochs or event["examples_per_sec"] <= 0:
            continue
        duration = window_examples / event["examples_per_sec"]
        end = event["time"]
        start = end - duration
        middle = (start + end) / 2
        near_boundary = (middle - margin) // phase != (middle + margin) // phase
        if near_boundary or start // phase != end // phase:
            continue
        drawing = drawing_phase(middle, phase)
        examples[drawing] += window_examples
        seconds[drawing] += duration
    return {
        "drawing": examples[True] / seconds[True] if seconds[True] else 0.0,
        "idle": examples[False] / seconds[False] if seconds[False] else 0.0,
        "drawing_seconds": seconds[True],
        "idle_seconds": seconds[False],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lenet")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--phase", type=float, default=4.0, help="seconds per slice")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="cnntui-bench-draw-"))
    env = {**os.environ, DRAW_PHASES_ENV: str(args.phase)}
    ratios = []
    print("| round | drawing ex/s | idle ex/s | drawing/idle | seconds counted (drawing, idle) |")
    print("|---|---|---|---|---|")
    for round_ in range(args.rounds):
        run_dir = root / f"draw-{round_}"
        dashboard(args.preset, args.epochs, run_dir, args.device, env=env)
        rates = phase_rates(run_dir / "events.jsonl", args.phase)
        ratio = rates["drawing"] / rates["idle"] if rates["idle"] else float("nan")
        ratios.append(ratio)
        print(
            f"| {round_ + 1} | {rates['drawing']:,.0f} | {rates['idle']:,.0f} | {ratio:.3f} | "
            f"{rates['drawing_seconds']:.1f}, {rates['idle_seconds']:.1f} |",
            flush=True,
        )
    print(f"\n{args.preset}, {args.epochs} epochs, {args.phase:g} s slices: drawing/idle median "
          f"{statistics.median(ratios):.3f} over {len(ratios)} run(s)")  # fmt: skip


if __name__ == "__main__":
    main()
