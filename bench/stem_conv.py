"""The first convolution alone, cuDNN against im2col + GEMM (cnntui/engine/stem.py), per preset.

    python -m bench.stem_conv --presets alexnet,nin,vgg11,resnet18,googlenet,densenet,lenet

For each preset's model: its first Conv2d, at the preset's batch size and image size, in the
layout and precision the engine would train it in on CUDA (channels_last weights where the net
is wide, bf16 autocast where amp is auto), forward and the weight's backward (the image needs no
gradient), timed with CUDA events after a warm-up. Both ways in the same process, alternating.
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn

from cnntui.config import load_config
from cnntui.engine.layout import has_wide_convs
from cnntui.engine.setup import resolve_amp
from cnntui.engine.stem import MatmulStemConv2d
from cnntui.zoo import build_model


def time_pass(conv: nn.Module, x: torch.Tensor, dtype: torch.dtype | None, iters: int) -> float:
    """Milliseconds per forward + backward of `conv` on `x`."""
    with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
        out = conv(x)
    grad = torch.randn_like(out)

    def one() -> None:
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            y = conv(x)
        y.backward(grad)
        conv.zero_grad(set_to_none=False)

    for _ in range(5):
        one()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        one()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="alexnet,nin,vgg11,resnet18,googlenet,densenet,lenet")
    parser.add_argument("--iters", type=int, default=50)
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
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        fmt = torch.channels_last if wide else torch.contiguous_format
        cudnn = copy.deepcopy(stem).cuda().to(memory_format=fmt)
        gemm = copy.deepcopy(cudnn)
        gemm.__class__ = MatmulStemConv2d
        x = torch.rand(config.batch_size, 1, size, size, device="cuda")
        times: dict[str, list[float]] = {"cudnn": [], "gemm": []}
        for _ in range(args.rounds):
            times["cudnn"].append(time_pass(cudnn, x, dtype, args.iters))
            times["gemm"].append(time_pass(gemm, x, dtype, args.iters))
        a, b = min(times["cudnn"]), min(times["gemm"])
        k = "x".join(map(str, stem.kernel_size))
        print(
            f"| {name} | {stem.in_channels}->{stem.out_channels} {k} /{stem.stride[0]} "
            f"| {config.batch_size}x{size}x{size} | {'NHWC' if wide else 'NCHW'} | {amp} "
            f"| {a:.3f} | {b:.3f} | {b / a:.2f} |"
        )


if __name__ == "__main__":
    main()
