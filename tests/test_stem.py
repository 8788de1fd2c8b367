"""The first convolution as im2col + GEMM (cnntui.engine.stem) computes what cuDNN/oneDNN do."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnntui.config import RunConfig
from cnntui.engine import stem
from cnntui.engine.setup import matmul_stem_note
from cnntui.engine.stem import MatmulStemConv2d, im2col_conv2d, stem_conv, use_matmul_stem
from cnntui.zoo import build_model

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize(
    ("channels", "kernel", "stride", "padding", "bias"),
    [(1, (11, 11), (4, 4), (1, 1), True), (3, (7, 5), (2, 3), (3, 0), False)],
)
def test_im2col_equals_conv2d_forward_and_weight_gradient(
    channels, kernel, stride, padding, bias
) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, channels, 45, 38)
    weight = torch.randn(16, channels, *kernel, requires_grad=True)
    b = torch.randn(16, requires_grad=True) if bias else None
    expected = F.conv2d(x, weight, b, stride, padding)
    got = im2col_conv2d(x, weight, b, stride, padding)
    assert got.shape == expected.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(expected)
    want = torch.autograd.grad(expected, [weight] + ([b] if bias else []), grad)
    have = torch.autograd.grad(got, [weight] + ([b] if bias else []), grad)
    for w, h in zip(want, have, strict=True):
        torch.testing.assert_close(h, w, rtol=1e-4, atol=1e-4)


def test_alexnet_with_the_swapped_stem_trains_the_same_weights() -> None:
    torch.manual_seed(0)
    model = build_model("alexnet", in_channels=1, num_classes=10, options={}).module.eval()
    reference = copy.deepcopy(model)
    assert use_matmul_stem(model)
    x = torch.rand(2, 1, 224, 224)
    model(x).square().sum().backward()
    reference(x).square().sum().backward()
    for name, p in model.named_parameters():
        ref = dict(reference.named_parameters())[name]
        torch.testing.assert_close(p.grad, ref.grad, rtol=1e-4, atol=1e-6)
    # Same layer to anyone reading the model, same names in checkpoints.
    assert repr(model) == repr(reference)
    assert list(model.state_dict()) == list(reference.state_dict())
    assert type(copy.deepcopy(model)[0]) is MatmulStemConv2d


def test_an_input_that_needs_its_gradient_goes_through_the_ordinary_convolution() -> None:
    conv = nn.Conv2d(1, 4, 5)
    use_matmul_stem(conv)
    x = torch.randn(1, 1, 12, 12, requires_grad=True)
    conv(x).sum().backward()
    expected = torch.autograd.grad(F.conv2d(x, conv.weight, conv.bias).sum(), x)[0]
    torch.testing.assert_close(x.grad, expected)


def test_bf16_autocast_runs_the_gemm_in_bf16() -> None:
    conv = nn.Conv2d(1, 8, 11, stride=4, padding=1)
    reference = copy.deepcopy(conv)
    use_matmul_stem(conv)
    x = torch.rand(2, 1, 64, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, expected = conv(x), reference(x)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected.float(), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize(
    ("conv", "swapped"),
    [
        (nn.Conv2d(1, 96, 11, stride=4, padding=1), True),  # AlexNet, NiN
        (nn.Conv2d(1, 64, 7, stride=2, padding=3), True),  # ResNet, GoogLeNet, DenseNet
        (nn.Conv2d(1, 64, 3, padding=1), True),  # VGG
        (nn.Conv2d(16, 64, 7), False),  # not an image
        (nn.Conv2d(2, 64, 7, groups=2), False),
        (nn.Conv2d(1, 64, 7, dilation=2), False),
        (nn.Conv2d(1, 64, 7, padding="same"), False),
        (nn.Conv2d(1, 64, 7, padding=3, padding_mode="reflect"), False),
    ],
)
def test_only_a_stem_that_im2col_can_run_is_swapped(conv, swapped) -> None:
    model = nn.Sequential(conv, nn.ReLU(), nn.Conv2d(conv.out_channels, 8, 3))
    assert (stem_conv(model) is conv) is swapped
    assert use_matmul_stem(model) is swapped
    assert type(model[2]) is nn.Conv2d  # never a later convolution


@pytest.mark.parametrize(
    ("device", "settings", "timed", "swapped"),
    [
        ("cuda", {"channels_last": True}, (1.7e-3, 0.6e-3), True),
        ("cuda", {"channels_last": True}, (0.6e-3, 0.8e-3), False),  # cuDNN is faster here
        ("cuda", {"channels_last": False}, None, False),  # narrow nets, LeNet: not even timed
        ("cuda", {"channels_last": True, "deterministic": True}, None, False),
        ("cuda", {"channels_last": True, "matmul_stem": False}, None, False),
        ("cpu", {"channels_last": True}, None, False),
        ("cpu", {"matmul_stem": True}, None, True),
    ],
)
def test_left_to_auto_the_stem_is_swapped_on_cuda_where_timing_says_it_is_faster(
    monkeypatch, device, settings, timed, swapped
) -> None:
    calls = []

    def fake_timing(conv, batch_shape, autocast_dtype):
        calls.append(batch_shape)
        return timed

    monkeypatch.setattr(stem, "time_both_ways", fake_timing)
    model = build_model("alexnet", in_channels=1, num_classes=10, options={}).module
    config = RunConfig(model="alexnet", **settings)
    note = matmul_stem_note(config, model, torch.device(device), (128, 1, 224, 224), None)
    assert (note is not None) is swapped
    assert (type(model[0]) is MatmulStemConv2d) is swapped
    assert calls == ([(128, 1, 224, 224)] if timed else [])
    if timed and swapped:
        assert "0.60 ms a batch against cuDNN's 1.70" in note


def test_a_net_without_a_stem_convolution_is_left_alone() -> None:
    model = build_model("mlp", in_channels=1, num_classes=10, options={}).module
    config = RunConfig(matmul_stem=True)
    assert matmul_stem_note(config, model, torch.device("cpu"), (1, 1, 28, 28), None) is None


def test_a_first_convolution_that_does_not_read_the_image_is_left_alone() -> None:
    model = nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3))
    config = RunConfig(matmul_stem=True)
    assert matmul_stem_note(config, model, torch.device("cpu"), (2, 1, 28, 28), None) is None
    assert type(model[0]) is nn.Conv2d


def test_timing_both_ways_leaves_the_stem_and_the_random_state_as_they_were() -> None:
    conv = nn.Conv2d(1, 8, 5)
    before = torch.random.get_rng_state()
    ordinary, matmul = stem.time_both_ways(conv, (4, 1, 20, 20), None)
    assert ordinary > 0 and matmul > 0
    assert type(conv) is nn.Conv2d and conv.weight.grad is None
    assert torch.equal(torch.random.get_rng_state(), before)


@needs_cuda
def test_on_cuda_bf16_channels_last_matches_cudnn() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 96, 11, stride=4, padding=1).cuda().to(memory_format=torch.channels_last)
    reference = copy.deepcopy(conv)
    use_matmul_stem(conv)
    x = torch.rand(32, 1, 224, 224, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        got, expected = conv(x), reference(x)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got.float(), expected.float(), rtol=2e-2, atol=2e-2)
    grad = torch.randn_like(expected)
    got.backward(grad)
    expected.backward(grad)
    scale = reference.weight.grad.abs().max()
    assert (conv.weight.grad - reference.weight.grad).abs().max() / scale < 2e-2
