"""What watching costs: the bare engine, the same run headless, and the same run with the dashboard.

    python -m bench.dashboard --preset lenet --epochs 1 --rounds 2 [--device cuda] [--modes ...]

Four ways to train the same preset, alternating, each in a fresh process and each read from its
summary (examples/sec over whole training steps, data included, evaluation excluded):
- engine: `Trainer` with no subscribers and no run directory (bench/engine_only.py);
- headless: `cnntui run --headless`, plain progress lines into a pipe, the run log on disk;
- dashboard: `cnntui run --exit-on-finish` in a real terminal (a 160x48 pseudo-terminal, the size
  of a comfortable SSH window) whose output is read as fast as the app writes it;
- idle: the same dashboard told never to draw (bench/draw_cost.py's switch).
Each round also prints the share of the training thread's time its subscribers took (the
summary's reporting_seconds). Prints the ratios over the whole run and, with 2 or more epochs,
over the epochs after the first (one-time start-up excluded), which is what a short GPU run
needs: there the first epoch can be half of the training time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.terminal import run_dashboard
from cnntui.tui.pacing import DRAW_PHASES_ENV


def cnntui_command(preset: str, epochs: int, run_dir: Path, device: str) -> list[str]:
    return [sys.executable, "-m", "cnntui", "run", preset, "--epochs", str(epochs),
            "--device", device, "--run-dir", str(run_dir)]  # fmt: skip


Summary = dict  # the run's summary.json (examples_per_sec, epochs with their durations)


def read_summary(run_dir: Path) -> Summary:
    return json.loads((run_dir / "summary.json").read_text())


def engine(preset: str, epochs: int, run_dir: Path, device: str) -> Summary:
    command = [sys.executable, "-m", "bench.engine_only", preset, "--epochs", str(epochs),
               "--device", device]  # fmt: skip
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def headless(preset: str, epochs: int, run_dir: Path, device: str) -> Summary:
    command = [*cnntui_command(preset, epochs, run_dir, device), "--headless"]
    subprocess.run(command, check=True, stdout=subprocess.PIPE)
    return read_summary(run_dir)


def dashboard(
    preset: str,
    epochs: int,
    run_dir: Path,
    device: str,
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Summary:
    """The run with its dashboard, in a terminal, closed when training ends (`on_start` gets the
    pid: bench/ui_share.py samples it)."""
    command = [*cnntui_command(preset, epochs, run_dir, device), "--exit-on-finish"]
    run_dashboard(command, env=env, on_start=on_start)
    return read_summary(run_dir)


def idle_dashboard(preset: str, epochs: int, run_dir: Path, device: str) -> Summary:
    """The dashboard open but never drawing (its 10^9-second slice is an idle one): what being
    there costs, without what drawing costs (that is bench/draw_cost.py)."""
    return dashboard(preset, epochs, run_dir, device, env={**os.environ, DRAW_PHASES_ENV: "1e9"})


def later_epochs_rate(summary: Summary) -> float | None:
    """Examples/sec over every epoch but the first, which holds the one-time start-up (library
    loading, autotuning, a CUDA graph's capture, the dashboard's first frames)."""
    later = summary["epochs"][1:]
    seconds = sum(e["duration"] for e in later)
    if not later or seconds <= 0:
        return None
    return sum(e["examples_per_sec"] * e["duration"] for e in later) / seconds


MODES = {"engine": engine, "headless": headless, "dashboard": dashboard, "idle": idle_dashboard}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lenet")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--modes", default=",".join(MODES), help="which of engine,headless,dashboard,idle to run"
    )
    args = parser.parse_args(argv)
    modes = [m for m in MODES if m in args.modes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="cnntui-bench-dash-"))
    whole: dict[str, list[float]] = {mode: [] for mode in modes}
    later: dict[str, list[float]] = {mode: [] for mode in modes}
    for round_ in range(args.rounds):
        order = modes if round_ % 2 == 0 else list(reversed(modes))
        for mode in order:
            summary = MODES[mode](args.preset, args.epochs, root / f"{mode}-{round_}", args.device)
            whole[mode].append(summary["examples_per_sec"])
            rate = later_epochs_rate(summary)
            if rate is not None:
                later[mode].append(rate)
            after = f"  epochs 2+: {rate:,.0f} ex/s" if rate is not None else ""
            share = summary["reporting_seconds"] / summary["train_seconds"]
            print(
                f"round {round_ + 1} {mode:>9}: {whole[mode][-1]:,.0f} ex/s{after}"
                f"  subscribers held the training thread {share:.2%} of its time",
                flush=True,
            )
    print_table(args.preset, args.epochs, {"whole run": whole, "epochs 2+": later})


def ratio(medians: dict[str, float], top: str, bottom: str) -> str:
    return f"{medians[top] / medians[bottom]:.3f}" if {top, bottom} <= medians.keys() else "-"


def print_table(preset: str, epochs: int, spans: dict[str, dict[str, list[float]]]) -> None:
    """Medians over the rounds, one row per span; a ratio only where both of its modes ran."""
    print("\n| preset | epochs | over | engine ex/s | headless ex/s | dashboard ex/s | "
          "idle dashboard ex/s | headless/engine | dashboard/headless | idle/headless |\n"
          "|---|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for label, rates in spans.items():
        if not all(rates.values()):
            continue
        medians = {mode: statistics.median(values) for mode, values in rates.items()}
        cells = [f"{medians[m]:,.0f}" if m in medians else "-" for m in MODES]
        print(
            f"| {preset} | {epochs} | {label} | {' | '.join(cells)} | "
            f"{ratio(medians, 'headless', 'engine')} | {ratio(medians, 'dashboard', 'headless')} | "
            f"{ratio(medians, 'idle', 'headless')} |"
        )


if __name__ == "__main__":
    main()
