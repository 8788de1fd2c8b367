"""LeNet's average pools on the CPU, three ways: is there a faster exact pooling to swap in?

    python -m bench.avg_pool_variants

The two AvgPool2d(2) of d2l's LeNet are about a quarter of its CPU training step in
channels_last (docs/PERFORMANCE.md). This times, for each pool's input at batch 256, a forward
and the backward to its input of:
- `avg_pool2d`: torch's kernel, as the net is written;
- `strided sum`: the four strided 2x2 slices added, times 0.25;
- `reshape mean`: the NHWC memory viewed as 2x2 blocks and averaged.
Every way is checked equal to the first; medians of rounds, alternating, in one process.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

Pool = Callable[[torch.Tensor], torch.Tensor]
# LeNet's two pool inputs at d2l's batch: after the first and the second convolution.
SHAPES = ((256, 6, 28, 28), (256, 16, 10, 10))


def strided_sum(x: torch.Tensor) -> torch.Tensor:
    quarters = (x[:, :, i::2, j::2] for i in (0, 1) for j in (0, 1))
    return sum(quarters, torch.zeros(())) * 0.25


def reshape_mean(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    blocks = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c)
    return blocks.mean((2, 4)).permute(0, 3, 1, 2)


WAYS: dict[str, Pool] = {
    "avg_pool2d": lambda x: F.avg_pool2d(x, 2),
    "strided sum": strided_sum,
    "reshape mean": reshape_mean,
}


def milliseconds(pool: Pool, x: torch.Tensor, calls: int) -> float:
    """Milliseconds a forward and backward of `pool` on `x` take, averaged over `calls`."""
    leaf = x.clone().requires_grad_(True)
    start = time.perf_counter()
    for _ in range(calls):
        out = pool(leaf)
        out.backward(torch.ones_like(out))
    return (time.perf_counter() - start) / calls * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    for shape in SHAPES:
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
        expected = WAYS["avg_pool2d"](x)
        for name, pool in WAYS.items():
            assert torch.allclose(pool(x), expected, atol=1e-6), name
        times: dict[str, list[float]] = {name: [] for name in WAYS}
        for _ in range(args.rounds):
            for name, pool in WAYS.items():
                times[name].append(milliseconds(pool, x, args.calls))
        cells = "  ".join(f"{name} {statistics.median(t):.2f} ms" for name, t in times.items())
        print(f"{'x'.join(map(str, shape))} channels_last: {cells}")


if __name__ == "__main__":
    main()
