"""The fused max-pool + ReLU kernels (cnntui.engine.pool_kernels) on CPU tensors, under Triton's
interpreter. Run by tests/test_pool_kernels.py with TRITON_INTERPRET=1 set before Triton loads;
the same checks on a GPU are test_pool_relu.py's CUDA tests."""

from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

assert os.environ.get("TRITON_INTERPRET") == "1", "run through tests/test_pool_kernels.py"

from cnntui.engine import pool_kernels, pool_relu  # noqa: E402
from cnntui.zoo import build_model  # noqa: E402

GEOMETRIES = [
    # (input shape, kernel, stride, padding)
    ((2, 96, 13, 13), 3, 2, 0),  # AlexNet's: overlapping windows
    ((2, 24, 9, 11), 3, 2, 1),  # padded, not square
    ((1, 40, 8, 8), 2, 2, 0),  # VGG's: windows that do not overlap
    ((2, 12, 7, 7), (3, 2), (1, 2), (1, 0)),  # every number different; 12 channels: masked lanes
]


def pooled_both_ways(x: torch.Tensor, pool: nn.MaxPool2d):
    """(fused output, fused input gradient, reference output, reference gradient) for one
    upstream gradient with varied signs."""
    x = x.contiguous(memory_format=torch.channels_last)
    fused_x = x.detach().requires_grad_()
    fused = pool_kernels.max_pool_relu(fused_x, pool)
    grad = torch.linspace(-1, 1, fused.numel()).view_as(fused).to(x.dtype)
    fused.backward(grad)
    ref_x = x.detach().requires_grad_()
    reference = F.relu(F.max_pool2d(ref_x, pool.kernel_size, pool.stride, pool.padding))
    reference.backward(grad)
    return fused, fused_x.grad, reference, ref_x.grad


def with_ties_zeros_and_negatives(shape) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(shape)
    x[0, :, :3, :3] = 0.5  # ties: the first in the window wins
    x[-1, :, -3:, -3:] = -1.0  # windows the ReLU zeroes: no gradient
    x[0, 0, 1, 1] = 0.0
    return x


@pytest.mark.parametrize(("shape", "kernel", "stride", "padding"), GEOMETRIES)
def test_float32_values_and_gradients_are_bit_identical(shape, kernel, stride, padding) -> None:
    pool = nn.MaxPool2d(kernel, stride, padding)
    x = with_ties_zeros_and_negatives(shape)
    assert pool_kernels.applies(x.contiguous(memory_format=torch.channels_last), pool)
    fused, fused_grad, reference, reference_grad = pooled_both_ways(x, pool)
    assert fused.shape == reference.shape
    assert fused.is_contiguous(memory_format=torch.channels_last)
    assert fused_grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(fused, reference)
    assert torch.equal(fused_grad, reference_grad)


@pytest.mark.parametrize(("shape", "kernel", "stride", "padding"), GEOMETRIES[:2])
def test_bfloat16_values_are_exact_and_gradients_sum_in_float32(
    shape, kernel, stride, padding
) -> None:
    pool = nn.MaxPool2d(kernel, stride, padding)
    x = with_ties_zeros_and_negatives(shape).to(torch.bfloat16)
    fused, fused_grad, _, _ = pooled_both_ways(x, pool)
    # What PyTorch's CUDA kernel computes: the same windows, gradients summed in float32.
    _, _, reference, reference_grad = pooled_both_ways(x.float(), pool)
    assert fused.dtype == fused_grad.dtype == torch.bfloat16
    assert torch.equal(fused.float(), reference)
    # The interpreter rounds float32 to bf16 towards zero where a GPU rounds to nearest: one
    # bf16 step apart at most (tests/test_pool_relu.py checks equality on a GPU).
    torch.testing.assert_close(fused_grad.float(), reference_grad, rtol=2**-7, atol=0)


def test_a_nan_wins_its_window_and_passes_its_gradient() -> None:
    pool = nn.MaxPool2d(3, 2)
    x = with_ties_zeros_and_negatives((1, 16, 7, 7))
    x[0, 3, 2, 2] = float("nan")
    fused, fused_grad, reference, reference_grad = pooled_both_ways(x, pool)
    assert torch.equal(fused.isnan(), reference.isnan()) and fused.isnan().any()
    assert torch.equal(fused.nan_to_num(), reference.nan_to_num())
    assert torch.equal(fused_grad, reference_grad)


def test_only_channels_last_pools_of_a_supported_kind_apply() -> None:
    x = torch.randn(2, 16, 9, 9)
    last = x.contiguous(memory_format=torch.channels_last)
    assert pool_kernels.applies(last, nn.MaxPool2d(3, 2))
    assert not pool_kernels.applies(x, nn.MaxPool2d(3, 2))  # NCHW
    assert not pool_kernels.applies(last, nn.MaxPool2d(3, 2, ceil_mode=True))
    assert not pool_kernels.applies(last, nn.MaxPool2d(3, 2, dilation=2))
    assert not pool_kernels.applies(last, nn.MaxPool2d(16, 16))  # larger than the image
    assert not pool_kernels.applies(last.double(), nn.MaxPool2d(3, 2))


def test_alexnet_through_the_fused_pairs_trains_the_same_weights() -> None:
    torch.manual_seed(0)
    model = build_model("alexnet", in_channels=1, num_classes=10, options={}).module.eval()
    model = model.to(memory_format=torch.channels_last)
    reference = copy.deepcopy(model)
    assert pool_relu.run_relus_after_max_pools(model) == 3
    used = []
    original = pool_kernels.max_pool_relu

    def counting(x, pool):
        used.append(tuple(x.shape))
        return original(x, pool)

    pool_kernels.max_pool_relu = counting
    try:
        x = torch.rand(2, 1, 224, 224)
        out = model(x)
        out.square().sum().backward()
    finally:
        pool_kernels.max_pool_relu = original
    want = reference(x)
    want.square().sum().backward()
    assert used == [(2, 96, 54, 54), (2, 256, 26, 26), (2, 256, 12, 12)]
    assert torch.equal(out, want)
    for (name, p), ref in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(p.grad, ref.grad), name
