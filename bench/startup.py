"""Start-up cost: `cnntui shapes alexnet --input 1x1x224x224` against `python -c "import torch"`.

    python -m bench.startup --repeats 5

Both commands run alternately as fresh processes; the ratio of the medians is the figure.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "cnntui shapes alexnet": [
        sys.executable,
        "-m",
        "cnntui",
        "shapes",
        "alexnet",
        "--input",
        "1x1x224x224",
    ],
    "cnntui --help": [sys.executable, "-m", "cnntui", "--help"],
}


def wall_seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():
        wall_seconds(command)  # warm the page cache once
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            times[name].append(wall_seconds(command))
    reference = statistics.median(times["import torch"])
    print("| command | median s | vs import torch |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.2f} | {median / reference:.2f}x |")


if __name__ == "__main__":
    main()
