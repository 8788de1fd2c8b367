"""Where a step's GPU time goes: the kernels of the engine's steady state, longest first.

    python -m bench.profile_kernels lenet --steps 1000 --set epochs=5
    python -m bench.profile_kernels alexnet --steps 150 --set channels_last=false

Trains the preset twice with no subscribers: once to warm up (library loading, cuDNN autotuning,
the CUDA graph capture), once under torch.profiler. Prints examples/sec of the profiled run and
the kernels by total device time. Health samples are off so that every step is the same step.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from cnntui.config import load_config
from cnntui.engine.trainer import Trainer
from cnntui.key_values import parse_key_values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="K=V")
    args = parser.parse_args(argv)
    overrides = {
        "epochs": 1,
        "device": "cuda",
        "health_every": 0,
        **parse_key_values(args.settings, "--set"),
        "max_steps": args.steps,
    }
    config = load_config(args.preset, overrides=overrides)
    Trainer(config, write_run_dir=False).run()
    trainer = Trainer(config, write_run_dir=False)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        trainer.run()
    torch.cuda.synchronize()
    rate = trainer.summary["examples_per_sec"]
    print(f"{args.preset} {overrides}: {rate:,.0f} examples/s over {args.steps} steps")
    kernels = [
        (event.self_device_time_total, event.count, event.key)
        for event in prof.key_averages()
        if event.self_device_time_total > 0 and not event.key.startswith("aten::")
    ]
    kernels.sort(reverse=True)
    total = sum(k[0] for k in kernels)
    print(f"device time {total / 1e3:.1f} ms, {total / args.steps:.0f} us per step")
    for device_us, count, name in kernels[: args.rows]:
        print(f"{device_us / 1e3:9.2f} ms {count:7d} x {device_us / count:8.1f} us  {name[:90]}")


if __name__ == "__main__":
    main()
