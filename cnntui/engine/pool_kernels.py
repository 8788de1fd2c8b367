"""Max-pool and ReLU as one Triton kernel each way, for channels_last activations on CUDA.

PyTorch's max-pool writes the window index of every output as an int64: for AlexNet's first pool
(128x96x54x54 bf16 in, 26x26 out) that is 66 MB of indices against 17 MB of output, written in
the forward and read again in the backward. Its three pools took 720 us of a 3.96 ms bf16 step on
an H100, the largest item after the convolutions (bench/results/2026-11-24-h100/run1.log).

Here the forward keeps one byte per output: the position in its window of the element that won
(255 where the ReLU after the pool zeroed it, so its gradient is zero too), and applies the ReLU
on the way out. The backward is a gather: each input element adds the gradients of the few
windows that chose it, in the order PyTorch's kernel adds them, so values and gradients are
bit-identical to `relu(max_pool2d(x))`, but for the sign of a zero (a ReLU here writes +0.0 where
PyTorch's may keep -0.0). `tests/test_pool_kernels.py` runs the kernels under Triton's
interpreter, `tests/test_pool_relu.py` on a GPU; `bench/pool_variants.py` times them.

Import only where Triton is installed (it comes with PyTorch's CUDA builds).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import triton  # type: ignore[import-untyped]
import triton.language as tl  # type: ignore[import-untyped]
from torch.autograd.function import once_differentiable

from cnntui.engine.pool_window import pair, window

# Triton's interpreter runs the kernels on CPU tensors, as the tests do.
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
ZEROED = 255  # the window index stored where the ReLU zeroed the output: no gradient
_ZEROED = tl.constexpr(ZEROED)  # the same, as the kernels read it


@dataclass(frozen=True)
class Geometry:
    """A max-pool's windows over an input of (N, C, H, W)."""

    shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @classmethod
    def of(cls, shape: Sequence[int], pool: torch.nn.MaxPool2d) -> Geometry:
        n, c, h, w = shape
        return cls((n, c, h, w), *window(pool))

    @property
    def out_size(self) -> tuple[int, int]:
        (_, _, h, w), (kh, kw), (sh, sw), (ph, pw) = (
            self.shape, self.kernel, self.stride, self.padding)  # fmt: skip
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def constants(self) -> dict[str, int]:
        """The kernels' compile-time constants: each distinct set is another compile."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        block_p, block_c = _blocks(self.shape[1])
        return dict(KH=kh, KW=kw, SH=sh, SW=sw, PH=ph, PW=pw, BLOCK_P=block_p, BLOCK_C=block_c)

    def grid(self, positions: int) -> tuple[int, int]:
        """Programs for a kernel that covers `positions` places of all the channels."""
        block_p, block_c = _blocks(self.shape[1])
        return triton.cdiv(positions, block_p), triton.cdiv(self.shape[1], block_c)


def applies(x: torch.Tensor, pool: torch.nn.MaxPool2d) -> bool:
    """Whether these kernels can pool `x` as `pool` does."""
    if not (
        (x.is_cuda or INTERPRETED)
        and x.dim() == 4
        and x.dtype in (torch.bfloat16, torch.float16, torch.float32)
        and x.is_contiguous(memory_format=torch.channels_last)
        and pair(pool.dilation) == (1, 1)
        and not pool.ceil_mode
        and not pool.return_indices
    ):
        return False
    geometry = Geometry.of(x.shape, pool)
    kh, kw = geometry.kernel
    return kh * kw < ZEROED and min(geometry.out_size) > 0


def max_pool_relu(x: torch.Tensor, pool: torch.nn.MaxPool2d) -> torch.Tensor:
    """relu(max_pool2d(x)) as `pool` would compute it, and its gradient.

    Both kernels are compiled for a new shape before the forward runs, so that one Triton
    cannot build fails here, where the caller can still pool another way, and not in the
    backward."""
    geometry = Geometry.of(x.shape, pool)
    key = (geometry, x.dtype, x.device)
    if key not in _compiled:
        with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():
            _compile(geometry, x.dtype)
        _compiled.add(key)
    return _MaxPoolReLU.apply(x, geometry)


# (geometry, dtype, device) that max_pool_relu has compiled (or found) both kernels for
_compiled: set[tuple[Geometry, torch.dtype, torch.device]] = set()


def prewarm(shape: Sequence[int], pool: torch.nn.MaxPool2d, dtype: torch.dtype) -> None:
    """Compile both kernels for an input of `shape` (N, C, H, W, channels_last) and `dtype`
    without running them: Triton's first call would otherwise compile them inside the first
    training step (seconds, on a machine that has not compiled them before)."""
    _compile(Geometry.of(shape, pool), dtype)


def _compile(geometry: Geometry, dtype: torch.dtype) -> None:
    n, c, h, w = geometry.shape
    oh, ow = geometry.out_size
    # Integer arguments as a call passes them: Triton specializes on their divisibility.
    x_strides, out_strides = (h * w * c, w * c, c), (oh * ow * c, ow * c, c)
    _forward.warmup(dtype, dtype, torch.uint8, n * oh * ow, c, h, w, oh, ow, *x_strides,
                    *out_strides, grid=(1,), **geometry.constants())  # fmt: skip
    _backward.warmup(dtype, torch.uint8, dtype, n * h * w, c, h, w, oh, ow, *out_strides,
                     *x_strides, grid=(1,), **geometry.constants())  # fmt: skip


def _nhw(t: torch.Tensor) -> tuple[int, int, int]:
    """The batch, row and column strides of a channels_last tensor (its channel stride is 1)."""
    return t.stride(0), t.stride(2), t.stride(3)


def _blocks(channels: int) -> tuple[int, int]:
    """(positions, channels) per program, 2k elements a tile: a power of two of channels that
    divides their count where one of 8 or more does (whole 16-byte rows of bf16), so that
    AlexNet's 96 and 256 channels share one tile shape, and one compile."""
    block_c = next((b for b in (32, 16, 8) if channels % b == 0), None)
    if block_c is None:
        block_c = min(32, triton.next_power_of_2(channels))
    return 2048 // block_c, block_c


class _MaxPoolReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, geometry):
        n, c, h, w = geometry.shape
        oh, ow = geometry.out_size
        out = torch.empty((n, c, oh, ow), device=x.device, dtype=x.dtype,
                          memory_format=torch.channels_last)  # fmt: skip
        won = torch.empty((n * oh * ow, c), device=x.device, dtype=torch.uint8)
        _forward[geometry.grid(n * oh * ow)](x, out, won, n * oh * ow, c, h, w, oh, ow, *_nhw(x),
                                             *_nhw(out), **geometry.constants())  # fmt: skip
        ctx.save_for_backward(won)
        ctx.geometry = geometry
        ctx.x_dtype = x.dtype
        return out

    @staticmethod
    @once_differentiable  # no second derivative through these kernels
    def backward(ctx, grad_out):
        (won,) = ctx.saved_tensors
        # After a Flatten the gradient comes back in NCHW order: one small copy.
        grad_out = grad_out.contiguous(memory_format=torch.channels_last)
        geometry = ctx.geometry
        n, c, h, w = geometry.shape
        oh, ow = geometry.out_size
        grad_in = torch.empty((n, c, h, w), device=grad_out.device, dtype=ctx.x_dtype,
                              memory_format=torch.channels_last)  # fmt: skip
        _backward[geometry.grid(n * h * w)](grad_out, won, grad_in, n * h * w, c, h, w, oh, ow,
                                            *_nhw(grad_out), *_nhw(grad_in),
                                            **geometry.constants())  # fmt: skip
        return grad_in, None


@triton.jit
def _forward(
    x, out, won, positions, C, H, W, OH, OW,
    sxn, sxh, sxw, son, soh, sow,
    KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
    PH: tl.constexpr, PW: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):  # fmt: skip
    p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    p_ok, c_ok = p < positions, c < C
    ow = p % OW
    oh = (p // OW) % OH
    n = p // (OW * OH)
    best = tl.full((BLOCK_P, BLOCK_C), float("-inf"), tl.float32)
    arg = tl.zeros((BLOCK_P, BLOCK_C), tl.int32)
    for i in tl.static_range(KH):
        ih = oh * SH - PH + i
        for j in tl.static_range(KW):
            iw = ow * SW - PW + j
            inside = p_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            offset = n.to(tl.int64) * sxn + ih * sxh + iw * sxw
            mask = inside[:, None] & c_ok[None, :]
            v = tl.load(x + offset[:, None] + c[None, :], mask=mask, other=float("-inf"))
            v = v.to(tl.float32)
            # PyTorch's rule: a larger value or a NaN takes the window; ties keep the first.
            take = mask & ((v > best) | (v != v))
            best = tl.where(take, v, best)
            arg = tl.where(take, i * KW + j, arg)
    zeroed = best <= 0.0  # False for NaN, which the ReLU passes on, as its gradient
    rectified = tl.where(zeroed, 0.0, best)
    out_offset = n.to(tl.int64) * son + oh * soh + ow * sow
    mask = p_ok[:, None] & c_ok[None, :]
    tl.store(out + out_offset[:, None] + c[None, :],
             rectified.to(out.dtype.element_ty), mask=mask)  # fmt: skip
    arg = tl.where(zeroed, _ZEROED, arg)
    tl.store(won + p.to(tl.int64)[:, None] * C + c[None, :], arg.to(tl.uint8), mask=mask)


@triton.jit
def _backward(
    grad_out, won, grad_in, positions, C, H, W, OH, OW,
    sgn, sgh, sgw, sin, sih, siw,
    KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
    PH: tl.constexpr, PW: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):  # fmt: skip
    q = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    q_ok, c_ok = q < positions, c < C
    iw = q % W
    ih = (q // W) % H
    n = q // (W * H)
    total = tl.zeros((BLOCK_P, BLOCK_C), tl.float32)
    # The windows that hold (ih, iw), in increasing order of row and then column as PyTorch
    # sums them (the sums of a few bf16 values are exact in float32 either way, nearly always).
    ROWS: tl.constexpr = (KH + SH - 1) // SH
    COLS: tl.constexpr = (KW + SW - 1) // SW
    for a in tl.static_range(ROWS):
        oh = (ih + PH) // SH - (ROWS - 1 - a)
        i = ih + PH - oh * SH  # this element's row in that window
        for b in tl.static_range(COLS):
            ow = (iw + PW) // SW - (COLS - 1 - b)
            j = iw + PW - ow * SW
            holds = q_ok & (oh >= 0) & (oh < OH) & (ow >= 0) & (ow < OW) & (i < KH) & (j < KW)
            mask = holds[:, None] & c_ok[None, :]
            p = (n.to(tl.int64) * OH + oh) * OW + ow
            winner = tl.load(won + p[:, None] * C + c[None, :], mask=mask, other=_ZEROED)
            chosen = mask & (winner.to(tl.int32) == (i * KW + j)[:, None])
            g_offset = n.to(tl.int64) * sgn + oh * sgh + ow * sgw
            g = tl.load(grad_out + g_offset[:, None] + c[None, :], mask=chosen, other=0.0)
            total += g.to(tl.float32)
    in_offset = n.to(tl.int64) * sin + ih * sih + iw * siw
    tl.store(grad_in + in_offset[:, None] + c[None, :],
             total.to(grad_in.dtype.element_ty), mask=q_ok[:, None] & c_ok[None, :])  # fmt: skip
