"""The first convolution as one matrix product, on CUDA, where cuDNN is slow at it.

A net's first convolution reads the image: one or three channels, a large kernel, a stride.
cuDNN has no tensor-core kernel for so few input channels and runs AlexNet's (1 -> 96, 11x11,
stride 4, bf16, channels_last) in a generic one: 450 us forward and 360 us for the weight
gradient per 128 images on an H100, about 14% of the training step.

Written as im2col and one GEMM it is memory-bound work the tensor cores finish quickly:
- the image's patches, (N*OH*OW, C*KH*KW), are one strided copy;
- `patches @ W^T + b` is one addmm, whose (N*OH*OW, OC) result viewed as (N, OC, OH, OW) is
  already the channels_last layout the next layers want;
- the image needs no gradient, so backward is only the weight's GEMM and the bias's sum.

Only the stem is swapped, only when the image does not require a gradient (otherwise it falls
back to cuDNN at run time), and the weights keep their names: checkpoints are unchanged.
"""

from __future__ import annotations

import copy
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from cnntui.engine.timing import best_seconds_per_call

MAX_STEM_CHANNELS = 4  # cuDNN's tensor-core kernels want more input channels than an image has
GEMM_ALIGNMENT = 8  # elements per row of the patch matrix: 16-byte rows for bf16 tensor cores


def stem_conv(model: nn.Module) -> nn.Conv2d | None:
    """The convolution that reads the image, when it is one im2col can run: the first Conv2d,
    with few input channels and no groups, dilation or padding mode."""
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None or type(first) is not nn.Conv2d:
        return None
    if (
        first.in_channels > MAX_STEM_CHANNELS
        or first.groups != 1
        or first.dilation != (1, 1)
        or first.padding_mode != "zeros"
        or isinstance(first.padding, str)
    ):
        return None
    return first


def use_matmul_stem(model: nn.Module) -> bool:
    """Swap the stem convolution's forward for im2col + GEMM. True when there was one to swap."""
    conv = stem_conv(model)
    if conv is None:
        return False
    conv.__class__ = MatmulStemConv2d
    return True


def time_both_ways(
    conv: nn.Conv2d, batch_shape: tuple[int, ...], autocast_dtype: torch.dtype | None
) -> tuple[float, float]:
    """Seconds per training pass (forward and weight gradient) of the stem on a batch of
    `batch_shape`, as it is and as im2col + GEMM, on the stem's device, each the best of rounds.

    Which way wins depends on the shape and the GPU (on an H100: AlexNet's 11x11 stem 0.48 ms
    against cuDNN's 1.72, VGG's 3x3 one 1.6 against 7.6, GoogLeNet's 7x7 at batch 128 0.41
    against 0.65, though 0.79 before the patch rows were aligned), so the engine asks the
    hardware rather than a rule."""
    ordinary = copy.deepcopy(conv)
    ordinary.__class__ = nn.Conv2d
    matmul = copy.deepcopy(ordinary)
    matmul.__class__ = MatmulStemConv2d
    x = torch.full(batch_shape, 0.5, device=conv.weight.device)  # no RNG: the run's stays put
    return _seconds_per_pass(ordinary, x, autocast_dtype), _seconds_per_pass(
        matmul, x, autocast_dtype
    )


def _seconds_per_pass(
    conv: nn.Module, x: torch.Tensor, autocast_dtype: torch.dtype | None
) -> float:
    grad = torch.ones_like(_forward(conv, x, autocast_dtype))

    def one_pass() -> None:
        _forward(conv, x, autocast_dtype).backward(grad)
        conv.zero_grad(set_to_none=True)

    return best_seconds_per_call(one_pass, x.device, rounds=2, calls_per_round=5)


def _forward(conv: nn.Module, x: torch.Tensor, autocast_dtype: torch.dtype | None) -> torch.Tensor:
    with torch.autocast(x.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        return conv(x)


class MatmulStemConv2d(nn.Conv2d):
    """nn.Conv2d whose forward is im2col + addmm when its input needs no gradient."""

    def _get_name(self) -> str:
        return "Conv2d"  # the same layer to anyone reading the model (layer table, repr)

    def _conv_forward(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        if input.requires_grad or input.dim() != 4:
            return super()._conv_forward(input, weight, bias)
        # Two ints each: `stem_conv` takes only 2-D convs with numeric padding.
        stride = cast(tuple[int, int], self.stride)
        padding = cast(tuple[int, int], self.padding)
        return im2col_conv2d(input, weight, bias, stride, padding)


def im2col_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> torch.Tensor:
    """conv2d(x, weight, bias, stride, padding) for groups=1, dilation=1, as one GEMM.

    The result is channels_last: (N, OC, OH, OW) with the channel as the fastest dimension."""
    device_type = x.device.type
    if torch.is_autocast_enabled(device_type):
        # Gather the patches in the GEMM's precision: half the bytes of the biggest copy.
        x = x.to(torch.get_autocast_dtype(device_type))
    n, c, _, _ = x.shape
    out_channels, _, kh, kw = weight.shape
    (sh, sw), (ph, pw) = stride, padding
    if ph or pw:
        x = F.pad(x, (pw, pw, ph, ph))
    height, width = x.shape[2:]
    oh, ow = (height - kh) // sh + 1, (width - kw) // sw + 1
    s_n, s_c, s_h, s_w = x.stride()
    windows = x.as_strided(
        (n, oh, ow, c, kh, kw),
        (s_n, s_h * sh, s_w * sw, s_c, s_h, s_w),
        x.storage_offset(),
    )
    # Rows padded with zeros to a multiple of 8 elements (16 bytes in bf16): with AlexNet's
    # 121 columns cuBLAS can only use its unaligned kernels, which took 2-3x as long.
    columns = c * kh * kw
    padded = columns + -columns % GEMM_ALIGNMENT
    patches = x.new_empty(n * oh * ow, padded)
    patches[:, :columns].view(n, oh, ow, c, kh, kw).copy_(windows)
    patches[:, columns:].zero_()
    weight_t = F.pad(weight.reshape(out_channels, columns), (0, padded - columns)).t()
    out = patches @ weight_t if bias is None else torch.addmm(bias, patches, weight_t)
    return out.view(n, oh, ow, out_channels).permute(0, 3, 1, 2)
