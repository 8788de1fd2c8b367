"""2x2 average pooling on the CPU in channels_last, as PyTorch's kernels are fast at it: the same
numbers, sooner.

Two things make PyTorch's CPU pooling slow here, and d2l's LeNet meets both:
- Its channels_last kernel vectorises across channels. With fewer than 16 of them (LeNet's first
  pool has 6) most of each vector is empty and it runs nearly scalar, in bfloat16 slower still.
  Viewed in memory, a channels_last batch is (N, H, W, C), so each window's four pixels are four
  strided views of it: the forward adds them as whole tensors, in the order PyTorch's kernel
  does, ((a + b) + c) + d, then divides by 4 (as a multiplication by 0.25, which is exact);
  bfloat16 and float16 add in float32, as PyTorch does. The backward spreads a quarter of each
  gradient over its window: duplicated along W as (.., 2, C) pairs, then whole rows along H.
- Its backward is 8x slower when the gradient arrives in the other layout than the input, as it
  does when a Flatten follows the pool (LeNet's second: 0.43 ms against 0.05, 256x16x10x10).
  Wider pools keep PyTorch's kernels and get the gradient in channels_last first.
Both give PyTorch's results bit for bit.

`python -m bench.avg_pool_variants` times them, forward and backward at batch 256 on a 2-core AMD
EPYC (Zen 5): LeNet's first pool 1.00 ms against PyTorch's 1.22 in float32 and 1.23 against 2.16
in bfloat16, its second 0.22 against 0.54.

Only the pool's class changes (as for the im2col stem): hooks, names, the layer table and
checkpoints see the nn.AvgPool2d that was written.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnntui.engine.pool_window import window

MAX_STRIDED_CHANNELS = 15  # from 16 up PyTorch's forward fills its vectors: as fast or faster


def use_strided_avg_pools(model: nn.Module) -> int:
    """Make each 2x2, stride-2 nn.AvgPool2d in `model` pool as this module does where its input
    allows (see `applies`). Returns how many pools there are."""
    pools = [m for m in model.modules() if type(m) is nn.AvgPool2d and _is_two_by_two(m)]
    for pool in pools:
        pool.__class__ = StridedAvgPool2d
    return len(pools)


def _is_two_by_two(pool: nn.AvgPool2d) -> bool:
    return window(pool) == ((2, 2), (2, 2), (0, 0)) and pool.divisor_override is None


def applies(x: torch.Tensor) -> bool:
    """A batch on the CPU in channels_last with an even height and width (so ceil_mode, which
    only matters for a leftover row or column, cannot change the result)."""
    return (
        x.device.type == "cpu"
        and x.dim() == 4
        and x.dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16)
        and x.shape[1] >= 2  # one channel: either layout, and its strides ambiguous
        and x.shape[2] % 2 == 0
        and x.shape[3] % 2 == 0
        and x.numel() > 0
        and x.is_contiguous(memory_format=torch.channels_last)
    )


class StridedAvgPool2d(nn.AvgPool2d):
    """nn.AvgPool2d(2, 2) that pools as the module docstring says where `applies`."""

    def _get_name(self) -> str:
        return "AvgPool2d"  # the same layer to anyone reading the model (layer table, repr)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not applies(input):
            return super().forward(input)
        if input.shape[1] > MAX_STRIDED_CHANNELS:
            return _ChannelsLastGradientPool.apply(input)
        return _StridedAvgPool.apply(input)


class _StridedAvgPool(torch.autograd.Function):
    """Few channels: the four strided views added, and the gradient spread back."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.input_shape = x.shape  # all the backward needs
        n, c, h, w = x.shape
        windows = x.permute(0, 2, 3, 1).view(n, h // 2, 2, w // 2, 2, c)
        # Sums in float32 for the half types, like PyTorch's kernel.
        total = windows[:, :, 0, :, 0].to(torch.promote_types(x.dtype, torch.float32), copy=True)
        total += windows[:, :, 0, :, 1]
        total += windows[:, :, 1, :, 0]
        total += windows[:, :, 1, :, 1]
        total *= 0.25
        return total.to(x.dtype).permute(0, 3, 1, 2)  # (N, C, H/2, W/2) in channels_last

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        n, c, h, w = ctx.input_shape
        quarter = (grad * 0.25).permute(0, 2, 3, 1)  # (N, H/2, W/2, C)
        # Along W first, as (.., 2, C) pairs (stack writes each window's pair once), then the
        # rows along H, W * C contiguous elements at a time.
        along_w = torch.stack([quarter, quarter], dim=3).view(n, h // 2, 1, w * c)
        spread = along_w.expand(n, h // 2, 2, w * c).contiguous()
        return spread.view(n, h, w, c).permute(0, 3, 1, 2)


class _ChannelsLastGradientPool(torch.autograd.Function):
    """Wider pools: PyTorch's kernels, with the gradient in the input's layout."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)  # PyTorch's backward reads its layout (its own pool keeps it too)
        return F.avg_pool2d(x, 2)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        grad = grad.contiguous(memory_format=torch.channels_last)
        return torch.ops.aten.avg_pool2d_backward(
            grad, x, [2, 2], [2, 2], [0, 0], False, True, None
        )
