"""Memory over a long run: a 1,000,000-step training keeps the process's RSS bounded.

    python -m bench.memory --steps 1000000

Trains a tiny MLP on 4x4 synthetic images with batch 1, so a million steps take minutes, with
the run log, the headless reporter and the dashboard's state (what the panes keep) subscribed.
Prints RSS at intervals; the figure is the growth after the first 10% of the run.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time

import psutil

from cnntui.config import RunConfig
from cnntui.engine.events import Event, StepMetrics
from cnntui.engine.trainer import Trainer
from cnntui.headless import PlainReporter
from cnntui.tui.state import RunState


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    process = psutil.Process()
    state = RunState()
    samples: list[tuple[int, int]] = []
    next_sample = 0

    def watch(event: Event) -> None:
        nonlocal next_sample
        state.apply([event])
        if isinstance(event, StepMetrics) and event.step >= next_sample:
            samples.append((event.step, process.memory_info().rss))
            next_sample += args.steps // 20

    config = RunConfig(
        model="mlp",
        model_options={"image_size": 4},
        dataset=f"synthetic:1x4x4:2:train={args.steps}:test=16",
        epochs=1,
        batch_size=1,
        max_steps=args.steps,
        optimizer="sgd",
        lr=0.01,
        device="cpu",
        runs_root=tempfile.mkdtemp(prefix="cnntui-memory-"),
    )
    trainer = Trainer(config, subscribers=[PlainReporter(io.StringIO()), watch])
    started = time.perf_counter()
    code = trainer.run()
    seconds = time.perf_counter() - started
    print(f"exit {code}, {args.steps:,} steps in {seconds:.0f}s ({args.steps / seconds:,.0f}/s)")
    print("| step | RSS MiB |")
    print("|---|---|")
    for step, rss in samples:
        print(f"| {step:,} | {rss / 2**20:.1f} |")
    baseline = next(rss for step, rss in samples if step >= args.steps // 10)
    print(f"\nRSS growth after 10% of the run: {(samples[-1][1] - baseline) / 2**20:+.1f} MiB")


if __name__ == "__main__":
    main()
