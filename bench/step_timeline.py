"""Where a run's training time goes, step by step: the one-time costs of its first epoch against
the steady state of the others.

    python -m bench.step_timeline --preset alexnet --epochs 3 --device cuda
    python -m bench.step_timeline --preset alexnet --epochs 3 --device cuda --as-written

Every training step is timed to its end on the device (a synchronize after each, so the figures
are a little slower than a run's) and sorted by what it was: the process's first step, a CUDA
graph's warm-ups and capture, its replays, eager steps for health samples, an epoch's ragged last
batch. What the epoch's time holds beyond its steps (fetching batches, reading metric windows)
is the "between steps" row. Between epochs, the evaluation and checkpoint saves are timed too
(they are not training time). `--no-pool-first` keeps each ReLU before its max-pool (the net as
written) to weigh that rewrite, `--no-fused` pools with PyTorch's kernels rather than the fused
Triton ones; `--no-autotune` turns off cuDNN's timing of each new shape.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from cnntui.config import load_config
from cnntui.engine import pool_relu
from cnntui.engine import setup as engine_setup
from cnntui.engine.events import EpochSummary
from cnntui.engine.step import StepRunner
from cnntui.engine.trainer import Trainer
from cnntui.headless import PlainReporter
from cnntui.key_values import parse_key_values


def kind_of_step(runner: StepRunner, x: torch.Tensor, y: torch.Tensor, eager: bool) -> str:
    graph = runner.graph
    if eager:
        return "eager: health sample"
    if graph is None:
        return "eager"
    if not graph.fits(x, y):
        return "eager: ragged batch"
    if graph.warmups_left > 0:
        return "graph warm-up"
    return "graph capture" if graph.graph is None else "graph replay"


class Timeline:
    """Seconds per (epoch, kind of step), from a wrapped StepRunner.__call__."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.epoch = 0
        self.first = True
        self.process_start = 0.0
        self.spans: dict[int, list[float]] = {}  # epoch: [first step's start, last step's end]

    def wrap(self) -> None:
        original = StepRunner.__call__
        timeline = self

        def timed(
            runner: StepRunner, x: torch.Tensor, y: torch.Tensor, eager: bool = False
        ) -> None:
            kind = "first step" if timeline.first else kind_of_step(runner, x, y, eager)
            timeline.first = False
            timeline.sync()
            started = time.perf_counter()
            original(runner, x, y, eager)
            timeline.sync()
            ended = time.perf_counter()
            timeline.seconds[timeline.epoch][kind].append(ended - started)
            timeline.spans.setdefault(timeline.epoch, [started, ended])[1] = ended

        StepRunner.__call__ = timed  # type: ignore[method-assign,assignment]

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="alexnet")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-pool-first", action="store_true", help="ReLU before max-pool")
    parser.add_argument("--no-fused", action="store_true", help="PyTorch's max-pool kernels")
    parser.add_argument("--no-autotune", action="store_true", help="cudnn.benchmark off")
    args = parser.parse_args(argv)
    overrides = parse_key_values(args.set, "--set")
    if args.no_pool_first:
        engine_setup.run_relus_after_max_pools = lambda model: 0
    if args.no_fused:
        pool_relu.fused_kernels = lambda: None
    if args.no_autotune:
        engine_setup.use_cudnn_benchmark = lambda config, model: False
    timeline: Timeline | None = None
    epoch_seconds: list[float] = []

    def note_epoch(event) -> None:
        if isinstance(event, EpochSummary) and timeline is not None:
            epoch_seconds.append(event.duration)
            timeline.epoch += 1

    with tempfile.TemporaryDirectory() as runs_root:
        config = load_config(
            args.preset,
            overrides={"epochs": args.epochs, "device": args.device, "runs_root": runs_root},
        )
        config = dataclasses.replace(config, **overrides)
        trainer = Trainer(config, subscribers=[PlainReporter(io.StringIO()), note_epoch])
        device = engine_setup.resolve_device(config.device)
        timeline = Timeline(device)
        timeline.wrap()
        started = timeline.process_start = time.perf_counter()
        code = trainer.run()
        total = time.perf_counter() - started
        assert trainer.run_dir is not None
        report(args, device, timeline, epoch_seconds, total, Path(trainer.run_dir), code)


def report(args, device, timeline, epoch_seconds, total, run_dir, code) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    flags = [flag for flag, on in (("--no-pool-first", args.no_pool_first),
                                   ("--no-fused", args.no_fused),
                                   ("--no-autotune", args.no_autotune)) if on]  # fmt: skip
    print(f"# {args.preset} on {name}, torch {torch.__version__}, {' '.join(flags)}")
    setup = timeline.spans[0][0] - timeline.process_start
    print(f"# trainer.run {total:.2f} s, exit {code}, set-up before the first step {setup:.3f} s")
    print("| epoch | kind | steps | total s | mean ms |")
    print("|---|---|---|---|---|")
    for epoch, seconds in enumerate(epoch_seconds):
        kinds = timeline.seconds[epoch]
        for kind, times in sorted(kinds.items(), key=lambda kv: -sum(kv[1])):
            mean_ms = 1e3 * sum(times) / len(times)
            print(f"| {epoch + 1} | {kind} | {len(times)} | {sum(times):.3f} | {mean_ms:.2f} |")
        steps = sum(len(t) for t in kinds.values())
        between = seconds - sum(sum(t) for t in kinds.values())
        print(f"| {epoch + 1} | between steps | | {between:.3f} | |")
        print(f"| {epoch + 1} | **epoch** | {steps} | **{seconds:.3f}** | |")
        if epoch + 1 in timeline.spans:
            gap = timeline.spans[epoch + 1][0] - timeline.spans[epoch][1]
            print(f"| {epoch + 1} | after it: evaluation, saves | | {gap:.3f} | |")
    if len(epoch_seconds) > 1:
        steady = sum(epoch_seconds[1:]) / (len(epoch_seconds) - 1)
        print(
            f"# first epoch {epoch_seconds[0]:.3f} s, later ones {steady:.3f} s on average: "
            f"{epoch_seconds[0] - steady:.3f} s of one-time cost"
        )


if __name__ == "__main__":
    main()
