"""2x2 average pools on the CPU in channels_last (cnntui.engine.avg_pool): few channels as
strided adds, more through PyTorch's kernels with the gradient in channels_last; the same
numbers as PyTorch's pooling, forward and backward."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnntui.engine import avg_pool
from cnntui.engine.avg_pool import StridedAvgPool2d, use_strided_avg_pools
from cnntui.engine.trainer import Trainer
from cnntui.zoo import build_model


@pytest.fixture
def strided_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The input shapes each forward pooled through cnntui.engine.avg_pool."""
    calls: list[tuple[int, ...]] = []
    for way in (avg_pool._StridedAvgPool, avg_pool._ChannelsLastGradientPool):

        def counting(ctx, x, original=way.forward):
            calls.append(tuple(x.shape))
            return original(ctx, x)

        monkeypatch.setattr(way, "forward", staticmethod(counting))
    return calls


def channels_last(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = (torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 3).to(dtype)
    return x.contiguous(memory_format=torch.channels_last).requires_grad_(True)


def pooled_both_ways(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Output and input gradient of PyTorch's pool and of the strided one, same upstream grad."""
    pool = nn.AvgPool2d(2)
    strided = copy.deepcopy(pool)
    assert use_strided_avg_pools(strided) == 1
    expected, got = pool(x), strided(x)
    upstream = torch.linspace(-2, 2, expected.numel()).view_as(expected).to(expected.dtype)
    # The gradient arrives in the layout the next layer gives it: channels_last here.
    upstream = upstream.contiguous(memory_format=torch.channels_last)
    (expected_grad,) = torch.autograd.grad(expected, x, upstream)
    (got_grad,) = torch.autograd.grad(got, x, upstream)
    return expected, got, expected_grad, got_grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize(
    "shape", [(256, 6, 28, 28), (3, 2, 4, 6), (5, 15, 10, 2), (256, 16, 10, 10), (2, 40, 6, 4)]
)
def test_the_strided_pool_gives_pytorchs_numbers_bit_for_bit(shape, dtype, strided_calls) -> None:
    expected, got, expected_grad, got_grad = pooled_both_ways(channels_last(*shape, dtype=dtype))
    assert strided_calls == [shape]
    assert torch.equal(got, expected)
    assert (got.dtype, got.stride()) == (expected.dtype, expected.stride())
    assert torch.equal(got_grad, expected_grad)
    assert got_grad.stride() == expected_grad.stride()


@pytest.mark.parametrize("channels", [6, 16])
def test_a_gradient_in_the_other_layout_gives_the_same_numbers(channels, strided_calls) -> None:
    x = channels_last(4, channels, 8, 8)
    pool = nn.AvgPool2d(2)
    use_strided_avg_pools(pool)
    upstream = torch.randn(4, channels, 4, 4)  # contiguous, as a Flatten after the pool gives
    (got,) = torch.autograd.grad(pool(x), x, upstream)
    (expected,) = torch.autograd.grad(F.avg_pool2d(x, 2), x, upstream)
    assert strided_calls and torch.equal(got, expected)
    assert got.stride() == expected.stride()


@pytest.mark.parametrize(
    "x",
    [
        pytest.param(torch.randn(4, 6, 8, 8), id="contiguous layout"),
        pytest.param(channels_last(4, 1, 8, 8), id="one channel"),
        pytest.param(channels_last(4, 6, 9, 8), id="odd height"),
        pytest.param(channels_last(4, 6, 8, 7), id="odd width"),
        pytest.param(torch.randn(6, 8, 8), id="no batch dimension"),
        pytest.param(channels_last(4, 6, 8, 8, dtype=torch.float64)[:, :, :, :4], id="a view"),
    ],
)
def test_other_inputs_go_through_pytorchs_pool(x, strided_calls) -> None:
    pool = nn.AvgPool2d(2)
    use_strided_avg_pools(pool)
    assert torch.equal(pool(x), F.avg_pool2d(x, 2))
    assert strided_calls == []


@pytest.mark.parametrize(
    "pool",
    [
        nn.AvgPool2d(3, 2),
        nn.AvgPool2d(2, stride=1),
        nn.AvgPool2d(2, padding=1),
        nn.AvgPool2d(2, divisor_override=3),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
    ],
    ids=repr,
)
def test_only_plain_two_by_two_average_pools_are_taken(pool) -> None:
    assert use_strided_avg_pools(nn.Sequential(pool)) == 0
    assert type(pool) is not StridedAvgPool2d


def test_written_forms_of_two_by_two_are_all_taken() -> None:
    model = nn.Sequential(
        nn.AvgPool2d(2), nn.AvgPool2d((2, 2)), nn.AvgPool2d(2, 2), nn.AvgPool2d(2, ceil_mode=True)
    )
    assert use_strided_avg_pools(model) == 4
    x = channels_last(2, 6, 8, 10)
    assert torch.equal(model[3](x), F.avg_pool2d(x, 2, ceil_mode=True))  # even: no leftover


def test_the_pool_reads_as_written_and_its_hooks_still_fire(strided_calls) -> None:
    model = nn.Sequential(nn.Conv2d(1, 6, 3), nn.Sigmoid(), nn.AvgPool2d(2))
    written = repr(model)
    use_strided_avg_pools(model)
    assert repr(model) == written
    seen: list[torch.Tensor] = []
    model[2].register_forward_hook(lambda module, args, out: seen.append(out))
    model.to(memory_format=torch.channels_last)
    out = model(torch.randn(2, 1, 10, 10))
    assert strided_calls == [(2, 6, 8, 8)]
    assert len(seen) == 1 and seen[0] is out


def test_a_cpu_run_pools_lenet_strided_and_trains_as_the_net_as_written(
    tiny_config, monkeypatch: pytest.MonkeyPatch, strided_calls
) -> None:
    """d2l's LeNet (sigmoid, average pools) on the CPU, with and without the strided pools:
    the same weights after an epoch, bit for bit."""
    config = dataclasses.replace(
        tiny_config, model_options={}, epochs=1, channels_last=True, health_every=0
    )

    def trained(run_dir: str) -> dict[str, torch.Tensor]:
        trainer = Trainer(dataclasses.replace(config, run_dir=run_dir))
        assert trainer.run() == 0
        return trainer.setup_done.model.state_dict()

    strided = trained(config.run_dir + "-strided")
    batch = config.batch_size
    assert {(batch, 6, 28, 28), (batch, 16, 10, 10)} <= set(strided_calls)
    monkeypatch.setattr("cnntui.engine.setup.use_strided_avg_pools", lambda model: 0)
    strided_calls.clear()
    as_written = trained(config.run_dir + "-as-written")
    assert strided_calls == []
    assert strided.keys() == as_written.keys()
    for name, value in strided.items():
        assert torch.equal(value, as_written[name]), name


def test_a_checkpoint_of_a_strided_run_loads_into_the_net_as_written(tiny_config) -> None:
    config = dataclasses.replace(tiny_config, model_options={}, epochs=1)
    trainer = Trainer(config)
    assert any(type(m) is StridedAvgPool2d for m in trainer.setup().model.modules())
    assert trainer.run() == 0
    plain = build_model("lenet", in_channels=1, num_classes=10, options={}).module
    saved = torch.load(trainer.run_dir / "last.pt", weights_only=True)
    plain.load_state_dict(saved["model"])  # strict: the same keys


def test_a_compiled_run_keeps_pytorchs_pools(tiny_config) -> None:
    config = dataclasses.replace(tiny_config, model_options={}, epochs=1, compile=True)
    model = Trainer(config).setup().eager_model
    assert not any(type(m) is StridedAvgPool2d for m in model.modules())
