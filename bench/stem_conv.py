"""The first convolution alone, cuDNN against im2col + GEMM (cnntui/engine/stem.py), per preset.

    python -m bench.stem_conv --presets alexnet,nin,vgg11,resnet18,googlenet,densenet,lenet

For each preset's model: its first Conv2d, at the preset's batch size and image size, in the
layout and precision the engine would train it in on CUDA (channels_last weights where the net
is wide, bf16 autocast where amp is auto), forward and the weight's backward (the image needs no
gradient), timed the way the engine times them when it decides (`stem.time_both_ways`), best of
rounds, both ways in the same process.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from cnntui.config import load_config
from cnntui.engine.layout import has_wide_convs
from cnntui.engine.setup import AUTOCAST_DTYPES, resolve_amp
from cnntui.engine.stem import time_both_ways
from cnntui.zoo import build_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="alexnet,nin,vgg11,resnet18,googlenet,densenet,lenet")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| preset | stem | batch x image | layout | dtype | cuDNN ms | GEMM ms | GEMM/cuDNN |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.presets.split(","):
        config = load_config(name)
        size = config.resize or 28
        model = build_model(config.model, in_channels=1, num_classes=10, options={}).module
        stem = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        wide = has_wide_convs(model)
        amp = resolve_amp(config.amp, torch.device("cuda"))
        dtype = AUTOCAST_DTYPES.get(amp)
        fmt = torch.channels_last if wide else torch.contiguous_format
        stem = stem.cuda().to(memory_format=fmt)
        shape = (config.batch_size, 1, size, size)
        rounds = [time_both_ways(stem, shape, dtype) for _ in range(args.rounds)]
        a, b = (min(times) * 1e3 for times in zip(*rounds, strict=True))
        k = "x".join(map(str, stem.kernel_size))
        print(
            f"| {name} | {stem.in_channels}->{stem.out_channels} {k} /{stem.stride[0]} "
            f"| {config.batch_size}x{size}x{size} | {'NHWC' if wide else 'NCHW'} | {amp} "
            f"| {a:.3f} | {b:.3f} | {b / a:.2f} |"
        )


if __name__ == "__main__":
    main()
