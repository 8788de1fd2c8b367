"""Throughput with the dashboard open against the same run headless, alternating.

    python -m bench.dashboard --preset lenet --epochs 1 --rounds 2

The dashboard run happens in a real terminal (a detached tmux session at 160x48, the size of a
comfortable SSH window) with --exit-on-finish; the headless one writes plain lines to a pipe.
Both read examples/sec from the run's summary.json (wall clock over whole steps, data included).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


def headless(preset: str, epochs: int, run_dir: Path, device: str) -> float:
    subprocess.run(
        [sys.executable, "-m", "cnntui", "run", preset, "--epochs", str(epochs), "--headless",
         "--device", device, "--run-dir", str(run_dir)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return json.loads((run_dir / "summary.json").read_text())["examples_per_sec"]


def dashboard(preset: str, epochs: int, run_dir: Path, device: str) -> float:
    socket = f"cnntui-bench-{uuid.uuid4().hex[:8]}"
    command = shlex.join(
        [sys.executable, "-m", "cnntui", "run", preset, "--epochs", str(epochs),
         "--device", device, "--run-dir", str(run_dir), "--exit-on-finish"]
    )  # fmt: skip
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-x", "160", "-y", "48",
         f"env -u COLUMNS -u LINES TERM=xterm-256color {command}"],
        check=True,
    )  # fmt: skip
    try:
        while (
            subprocess.run(["tmux", "-L", socket, "has-session"], capture_output=True).returncode
            == 0
        ):
            time.sleep(0.5)
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    return json.loads((run_dir / "summary.json").read_text())["examples_per_sec"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lenet")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="cnntui-bench-dash-"))
    rates: dict[str, list[float]] = {"headless": [], "dashboard": []}
    for round_ in range(args.rounds):
        order = ("headless", "dashboard") if round_ % 2 == 0 else ("dashboard", "headless")
        for mode in order:
            run = headless if mode == "headless" else dashboard
            rate = run(args.preset, args.epochs, root / f"{mode}-{round_}", args.device)
            rates[mode].append(rate)
            print(f"round {round_ + 1} {mode:>9}: {rate:,.0f} ex/s", flush=True)
    on, off = (statistics.median(rates[m]) for m in ("dashboard", "headless"))
    print("\n| preset | headless ex/s | dashboard ex/s | ratio |\n|---|---|---|---|")
    print(f"| {args.preset} | {off:,.0f} | {on:,.0f} | {on / off:.3f} |")


if __name__ == "__main__":
    main()
