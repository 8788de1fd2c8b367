"""LeNet's average pools on the CPU, four ways: is there a faster exact pooling to swap in?

    python -m bench.avg_pool_variants
    python -m bench.avg_pool_variants --dtype bfloat16

The two AvgPool2d(2) of d2l's LeNet are about a quarter of its CPU training step in
channels_last (docs/PERFORMANCE.md). This times, for each pool's input at batch 256, a forward
and the backward to its input of:
- `avg_pool2d`: torch's kernel, as the net is written;
- `strided sum`: the four strided 2x2 slices added, times 0.25;
- `reshape mean`: the NHWC memory viewed as 2x2 blocks and averaged;
- `engine`: what the engine runs on the CPU (cnntui.engine.avg_pool): below 16 channels strided
  views added in PyTorch's order, the gradient spread by a stack and an expand; from 16 up
  PyTorch's kernels, the gradient made channels_last first.
Every way is checked against the first (the engine's bit for bit); medians of rounds,
alternating, in one process.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cnntui.engine.avg_pool import use_strided_avg_pools

Pool = Callable[[torch.Tensor], torch.Tensor]
# LeNet's two pool inputs at d2l's batch, after the first and the second convolution, and the
# layout their gradient comes back in: from the second convolution's backward, channels_last;
# through the Flatten after the second pool, contiguous.
SHAPES = (
    ((256, 6, 28, 28), torch.channels_last),
    ((256, 16, 10, 10), torch.contiguous_format),
)


def strided_sum(x: torch.Tensor) -> torch.Tensor:
    quarters = (x[:, :, i::2, j::2] for i in (0, 1) for j in (0, 1))
    return sum(quarters, torch.zeros(())) * 0.25


def reshape_mean(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    blocks = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c)
    return blocks.mean((2, 4)).permute(0, 3, 1, 2)


def engine_pool() -> nn.Module:
    pool = nn.AvgPool2d(2)
    use_strided_avg_pools(pool)
    return pool


WAYS: dict[str, Pool] = {
    "avg_pool2d": lambda x: F.avg_pool2d(x, 2),
    "strided sum": strided_sum,
    "reshape mean": reshape_mean,
    "engine": engine_pool(),
}


def milliseconds(
    pool: Pool, x: torch.Tensor, grad_format: torch.memory_format, calls: int
) -> float:
    """Milliseconds a forward and backward of `pool` on `x` take, averaged over `calls`."""
    leaf = x.clone().requires_grad_(True)
    start = time.perf_counter()
    for _ in range(calls):
        out = pool(leaf)
        out.backward(torch.ones_like(out, memory_format=grad_format))
    return (time.perf_counter() - start) / calls * 1e3


def settle_the_allocator() -> None:
    """Free one large block first, as the engine's data set load does. glibc then raises its
    thresholds for returning memory to the system to the block's size (twice that at the heap's
    top; a block over glibc's 32 MB cap would not move them). Without that, each step's
    multi-megabyte activations are mapped afresh and page-faulted in, which made a LeNet step on 2
    cores 1.7x slower (12–13 ms against 7.1–7.6) and would time the page faults rather than the
    pooling."""
    block = torch.empty(16 * 2**20, dtype=torch.uint8)
    del block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    tolerance = 1e-6 if dtype is torch.float32 else 0.05  # bf16: 8 bits of mantissa
    settle_the_allocator()
    for shape, grad_format in SHAPES:
        x = torch.randn(shape).to(dtype).contiguous(memory_format=torch.channels_last)
        expected = WAYS["avg_pool2d"](x)
        for name, pool in WAYS.items():
            assert torch.allclose(pool(x), expected, atol=tolerance), name
        assert torch.equal(WAYS["engine"](x), expected)
        times: dict[str, list[float]] = {name: [] for name in WAYS}
        for _ in range(args.rounds):
            for name, pool in WAYS.items():
                times[name].append(milliseconds(pool, x, grad_format, args.calls))
        cells = "  ".join(f"{name} {statistics.median(t):.2f} ms" for name, t in times.items())
        grad = "channels_last" if grad_format is torch.channels_last else "contiguous"
        print(f"{'x'.join(map(str, shape))} {args.dtype} ({grad} gradient): {cells}")


if __name__ == "__main__":
    main()
