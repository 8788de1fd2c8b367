"""A net's ReLU + max-pool pairs alone, three ways, at the preset's batch and image size.

    python -m bench.pool_variants --preset alexnet            # bash bench/gpu.sh pools

AlexNet's three max-pools took 720 us of a 4.1 ms bf16 training step on an H100 (forward 103 us,
backward 137 us each; bench/results/2026-11-23-h100-stem/run7.log), the largest item left after
the convolutions. This times what might shrink it, each pair in the layout and precision the
engine trains in (channels_last and bf16 where the preset's amp is auto, on CUDA):
- `relu, pool`: as the net is written;
- `pool, relu`: max-pooling first. Exact, as max and ReLU commute, and the ReLU then touches a
  quarter of the data (every value and gradient is checked equal below);
- `fused (Triton)`: cnntui.engine.pool_kernels, one kernel each way, a byte of window index per
  output instead of PyTorch's int64 (channels_last only);
- `compiled`: the pair through `torch.compile`, which writes its own pooling kernels.

Each pass is a forward and the backward to the pair's input (the convolution's output), best of
rounds, all ways in the same process.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cnntui.config import load_config
from cnntui.engine.layout import has_wide_convs
from cnntui.engine.setup import AUTOCAST_DTYPES, resolve_amp
from cnntui.engine.timing import best_seconds_per_call
from cnntui.zoo import build_model

Pair = Callable[[torch.Tensor], torch.Tensor]


def relu_pool_pairs(
    model: nn.Module, image: tuple[int, int, int]
) -> list[tuple[str, nn.MaxPool2d, tuple]]:
    """Each max-pool that directly follows a ReLU in a Sequential, with the shape it reads for
    one example of `image`."""
    pairs: list[tuple[str, nn.MaxPool2d]] = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (_, first), (pool_name, second) in itertools.pairwise(children):
                if isinstance(first, nn.ReLU) and isinstance(second, nn.MaxPool2d):
                    pairs.append((f"{name}.{pool_name}".lstrip("."), second))
    shapes: dict[nn.Module, tuple] = {}

    def note_shape(module: nn.Module, args: tuple) -> None:
        shapes.setdefault(module, tuple(args[0].shape))

    hooks = [pool.register_forward_pre_hook(note_shape) for _, pool in pairs]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *image))
    for hook in hooks:
        hook.remove()
    return [(name, pool, shapes[pool][1:]) for name, pool in pairs]


def ways(pool: nn.MaxPool2d) -> dict[str, Pair]:
    k, s, p = pool.kernel_size, pool.stride, pool.padding

    def relu_then_pool(x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(x), k, s, p, ceil_mode=pool.ceil_mode)

    def pool_then_relu(x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.max_pool2d(x, k, s, p, ceil_mode=pool.ceil_mode))

    def fused(x: torch.Tensor) -> torch.Tensor:
        from cnntui.engine import pool_kernels

        return pool_kernels.max_pool_relu(x, pool)

    return {
        "relu, pool": relu_then_pool,
        "pool, relu": pool_then_relu,
        "fused (Triton)": fused,
        "compiled": torch.compile(relu_then_pool, dynamic=False),
    }


def forward_backward(way: Pair, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_()
    y = way(x)
    # A fixed upstream gradient with varied values, so ties and zeros are not all it sees.
    y.backward(torch.linspace(-1, 1, y.numel(), device=y.device, dtype=y.dtype).view_as(y))
    assert x.grad is not None  # x requires grad, and y was computed from it
    return y.detach(), x.grad


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="alexnet")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, help="default: the preset's")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20, help="passes per timed round")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    config = load_config(args.preset)
    size = config.resize or 28
    model = build_model(config.model, in_channels=1, num_classes=10, options={}).module
    dtype = AUTOCAST_DTYPES.get(resolve_amp(config.amp, device)) or torch.float32
    wide = has_wide_convs(model) and device.type == "cuda"
    fmt = torch.channels_last if wide else torch.contiguous_format
    batch = args.batch_size or config.batch_size
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# {name}, torch {torch.__version__}, {args.preset} at batch {batch}")
    print("| pool | input | layout | dtype | way | µs per pass | vs as written | same values |")
    print("|---|---|---|---|---|---|---|---|")
    generator = torch.Generator().manual_seed(0)
    for pool_name, pool, shape in relu_pool_pairs(model, (1, size, size)):
        x = torch.randn((batch, *shape), generator=generator).to(device, dtype)
        x = x.contiguous(memory_format=fmt)
        written = reference = None
        for way_name, way in ways(pool).items():
            y, grad = forward_backward(way, x)
            written = written or (y, grad)

            def one_call(way: Pair = way, x: torch.Tensor = x) -> None:
                forward_backward(way, x)

            seconds = best_seconds_per_call(one_call, device, args.rounds, args.calls)
            reference = reference or seconds
            print(
                f"| {pool_name} | {'x'.join(map(str, x.shape))} | {'NHWC' if wide else 'NCHW'} "
                f"| {str(dtype).removeprefix('torch.')} | {way_name} | {seconds * 1e6:.1f} "
                f"| {seconds / reference:.2f} | {sameness(written, (y, grad))} |"
            )


def sameness(expected: tuple[torch.Tensor, ...], got: tuple[torch.Tensor, ...]) -> str:
    """ "yes" when every value and gradient is bit-identical, else the largest difference."""
    if all(torch.equal(a, b) for a, b in zip(expected, got, strict=True)):
        return "yes"
    worst = max(
        (a.float() - b.float()).abs().max().item() for a, b in zip(expected, got, strict=True)
    )
    return f"no: max diff {worst:.2g}"


if __name__ == "__main__":
    main()
