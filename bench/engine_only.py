"""Train a preset with the bare engine: no subscribers, no run directory; print its summary.

    python -m bench.engine_only lenet --epochs 1 --device cuda

The reference point for what the headless printers and the run log cost (bench/dashboard.py). It
runs as its own process, as `cnntui run` does, so that both pay the same one-time start-up
(CUDA context, library loading, kernel autotuning) inside their first epoch.
"""

from __future__ import annotations

import argparse
import json

from cnntui.config import load_config
from cnntui.engine.trainer import Trainer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    config = load_config(args.preset, overrides={"epochs": args.epochs, "device": args.device})
    trainer = Trainer(config, subscribers=[], write_run_dir=False)
    if trainer.run() != 0:
        raise SystemExit(f"the engine run of {args.preset} failed: {trainer.summary['message']}")
    summary = trainer.summary
    keys = ("examples_per_sec", "epochs", "train_seconds", "reporting_seconds")
    print(json.dumps({k: summary[k] for k in keys}))


if __name__ == "__main__":
    main()
