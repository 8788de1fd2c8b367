"""What watching costs: the bare engine, the same run headless, and the same run with the dashboard.

    python -m bench.dashboard --preset lenet --epochs 1 --rounds 2 [--device cuda]

Three ways to train the same preset, alternating, each in a fresh process and each read from its
summary (examples/sec over whole training steps, data included, evaluation excluded):
- engine: `Trainer` with no subscribers and no run directory (bench/engine_only.py);
- headless: `cnntui run --headless`, plain progress lines into a pipe, the run log on disk;
- dashboard: `cnntui run --exit-on-finish` in a real terminal (a 160x48 pseudo-terminal, the size
  of a comfortable SSH window) whose output is read as fast as the app writes it.
Prints dashboard/headless and headless/engine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.terminal import run_dashboard


def cnntui_command(preset: str, epochs: int, run_dir: Path, device: str) -> list[str]:
    return [sys.executable, "-m", "cnntui", "run", preset, "--epochs", str(epochs),
            "--device", device, "--run-dir", str(run_dir)]  # fmt: skip


def summary_rate(run_dir: Path) -> float:
    return json.loads((run_dir / "summary.json").read_text())["examples_per_sec"]


def engine(preset: str, epochs: int, run_dir: Path, device: str) -> float:
    command = [sys.executable, "-m", "bench.engine_only", preset, "--epochs", str(epochs),
               "--device", device]  # fmt: skip
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def headless(preset: str, epochs: int, run_dir: Path, device: str) -> float:
    command = [*cnntui_command(preset, epochs, run_dir, device), "--headless"]
    subprocess.run(command, check=True, stdout=subprocess.PIPE)
    return summary_rate(run_dir)


def dashboard(preset: str, epochs: int, run_dir: Path, device: str) -> float:
    command = [*cnntui_command(preset, epochs, run_dir, device), "--exit-on-finish"]
    run_dashboard(command)
    return summary_rate(run_dir)


MODES = {"engine": engine, "headless": headless, "dashboard": dashboard}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lenet")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="cnntui-bench-dash-"))
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        order = list(MODES) if round_ % 2 == 0 else list(reversed(MODES))
        for mode in order:
            rate = MODES[mode](args.preset, args.epochs, root / f"{mode}-{round_}", args.device)
            rates[mode].append(rate)
            print(f"round {round_ + 1} {mode:>9}: {rate:,.0f} ex/s", flush=True)
    bare, off, on = (statistics.median(rates[m]) for m in MODES)
    print("\n| preset | engine ex/s | headless ex/s | dashboard ex/s | headless/engine | "
          "dashboard/headless |\n|---|---|---|---|---|---|")  # fmt: skip
    print(
        f"| {args.preset} | {bare:,.0f} | {off:,.0f} | {on:,.0f} | {off / bare:.3f} | "
        f"{on / off:.3f} |"
    )


if __name__ == "__main__":
    main()
