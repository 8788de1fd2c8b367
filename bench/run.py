"""Side-by-side benchmark: d2l's train_ch6 loop against cnntui's engine, alternating, one run.

    python -m bench.run                          # LeNet recipe on this machine
    python -m bench.run --presets lenet,alexnet --epochs 10 --rounds 1 --device cuda --dashboard

Prints both figures and their ratio, two ways: the book's timer (batch step only, data loading
excluded) and wall clock over whole epochs (data included). By default the engine runs in this
process as `cnntui run --headless` does (the run log and the plain reporter subscribed); with
`--dashboard` the real `cnntui run PRESET` command trains with its dashboard open in a terminal
(bench/terminal.py). `--set KEY=VALUE` changes the cnntui side only (say amp=bf16).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import platform
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.dashboard import cnntui_command
from bench.reference import fashion_mnist_loaders, torchvision_root, train_ch6
from bench.terminal import run_dashboard
from cnntui.config import load_config
from cnntui.engine.setup import device_name, resolve_device
from cnntui.engine.trainer import Trainer
from cnntui.headless import PlainReporter
from cnntui.key_values import parse_key_values
from cnntui.zoo import build_model


@dataclass
class Measurement:
    loop: str  # "d2l" or "cnntui"
    preset: str
    examples: int
    step_seconds: float
    wall_seconds: float
    test_accuracy: float

    @property
    def timer_rate(self) -> float:
        return self.examples / self.step_seconds

    @property
    def wall_rate(self) -> float:
        return self.examples / self.wall_seconds


def run_reference(preset: str, epochs: int, device: torch.device, root: Path) -> Measurement:
    config = load_config(preset)
    train_loader, test_loader = fashion_mnist_loaders(root, config.batch_size, config.resize)
    torch.manual_seed(config.seed)
    net = build_model(config.model, options=config.model_options).module
    timings, accuracy = train_ch6(net, train_loader, test_loader, epochs, config.lr, device)
    return Measurement(
        "d2l",
        preset,
        sum(t.examples for t in timings),
        sum(t.step_seconds for t in timings),
        sum(t.wall_seconds for t in timings),
        accuracy,
    )


def run_engine(
    preset: str, epochs: int, device: torch.device, runs_root: Path, **overrides: Any
) -> Measurement:
    config = load_config(
        preset, overrides={"epochs": epochs, "device": str(device), "runs_root": str(runs_root)}
    )
    config = dataclasses.replace(config, **overrides)
    trainer = Trainer(config, subscribers=[PlainReporter(io.StringIO())])
    code = trainer.run()
    if code != 0:
        raise SystemExit(f"cnntui run of {preset} failed with exit code {code}")
    assert trainer.run_dir is not None
    return engine_measurement(preset, trainer.run_dir)


def run_with_dashboard(
    preset: str, epochs: int, device: torch.device, runs_root: Path, **overrides: object
) -> Measurement:
    """The real command, dashboard open in a 160x48 terminal, closed when training ends."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{preset}-", dir=runs_root))
    command = [*cnntui_command(preset, epochs, run_dir, str(device)), "--exit-on-finish"]
    for key, value in overrides.items():
        command += ["--set", f"{key}={value}"]  # read back by the same parser as below
    run_dashboard(command)
    return engine_measurement(preset, run_dir)


def engine_measurement(preset: str, run_dir: Path) -> Measurement:
    summary = json.loads((run_dir / "summary.json").read_text())
    return Measurement(
        "cnntui",
        preset,
        summary["examples"],
        summary["train_seconds"] - summary["data_wait_seconds"],
        summary["train_seconds"],
        summary["final"]["test_accuracy"],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="lenet", help="comma-separated presets")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per loop")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    parser.add_argument(
        "--dashboard", action="store_true", help="cnntui trains with its dashboard open"
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="a setting for the cnntui side only, repeatable",
    )  # fmt: skip
    args = parser.parse_args(argv)
    overrides = parse_key_values(args.overrides, "--set")
    run_cnntui = run_with_dashboard if args.dashboard else run_engine

    device = resolve_device(args.device)
    root = torchvision_root()
    runs_root = Path(tempfile.mkdtemp(prefix="cnntui-bench-runs-"))
    mode = "dashboard open" if args.dashboard else "headless, in process"
    print(f"# {device_name(device)}, torch {torch.__version__}, {platform.python_version()}")
    print(f"# cnntui: {mode}; settings {overrides or 'as the preset'}")
    results: list[Measurement] = []
    for preset in args.presets.split(","):
        for round_ in range(args.rounds):
            for loop in ("d2l", "cnntui") if round_ % 2 == 0 else ("cnntui", "d2l"):
                if loop == "d2l":
                    m = run_reference(preset, args.epochs, device, root)
                else:
                    m = run_cnntui(preset, args.epochs, device, runs_root, **overrides)
                results.append(m)
                print(
                    f"{preset:>10} {loop:>6} round {round_ + 1}: timer {m.timer_rate:>10,.0f} ex/s"
                    f"  wall {m.wall_rate:>10,.0f} ex/s  test acc {m.test_accuracy:.3f}",
                    flush=True,
                )
    print()
    print("| preset | epochs | d2l timer ex/s | cnntui timer ex/s | ratio | "
          "d2l wall ex/s | cnntui wall ex/s | ratio | d2l acc | cnntui acc |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets.split(","):
        ref = [m for m in results if m.preset == preset and m.loop == "d2l"]
        ours = [m for m in results if m.preset == preset and m.loop == "cnntui"]
        rt, ot = (statistics.median(m.timer_rate for m in ms) for ms in (ref, ours))
        rw, ow = (statistics.median(m.wall_rate for m in ms) for ms in (ref, ours))
        ra, oa = (statistics.median(m.test_accuracy for m in ms) for ms in (ref, ours))
        print(
            f"| {preset} | {args.epochs} | {rt:,.0f} | {ot:,.0f} | {ot / rt:.2f}x | "
            f"{rw:,.0f} | {ow:,.0f} | {ow / rw:.2f}x | {ra:.3f} | {oa:.3f} |"
        )
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(m) for m in results], indent=2) + "\n")


if __name__ == "__main__":
    main()
