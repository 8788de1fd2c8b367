"""A ReLU before a max-pool applied after it (cnntui.engine.pool_relu): the same numbers."""

from __future__ import annotations

import copy
import dataclasses
import json
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnntui.engine import pool_relu
from cnntui.engine.events import LogMessage
from cnntui.engine.fit import checked_shapes
from cnntui.engine.health import HealthMonitor
from cnntui.engine.pool_relu import PoolFirstSequential, run_relus_after_max_pools
from cnntui.engine.trainer import Trainer
from cnntui.zoo import build_model

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CPU = torch.device("cpu")


def alexnet() -> nn.Module:
    torch.manual_seed(0)
    return build_model("alexnet", in_channels=1, num_classes=10, options={}).module.eval()


def forward_backward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    model.zero_grad(set_to_none=True)
    out = model(x)
    # An upstream gradient with varied signs, so the comparison sees more than one pattern.
    out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.fixture
def pairs_taken(monkeypatch: pytest.MonkeyPatch) -> list[nn.MaxPool2d]:
    """The pools each forward ran as relu(max_pool(x))."""
    taken: list[nn.MaxPool2d] = []
    original = pool_relu.max_pool_relu

    def counting(x, pool):
        taken.append(pool)
        return original(x, pool)

    monkeypatch.setattr(pool_relu, "max_pool_relu", counting)
    return taken


def test_alexnet_gives_bit_identical_outputs_and_gradients(pairs_taken) -> None:
    model = alexnet()
    reference = copy.deepcopy(model)
    assert run_relus_after_max_pools(model) == 3
    assert type(model) is PoolFirstSequential
    x = torch.randn(2, 1, 224, 224)
    out, grads = forward_backward(model, x)
    assert pairs_taken == [model[2], model[5], model[12]]
    want_out, want_grads = forward_backward(reference, x)
    assert torch.equal(out, want_out)
    for name, grad in want_grads.items():
        assert torch.equal(grads[name], grad), name
    # The same layers to anyone reading the model, the same names in checkpoints.
    assert repr(model) == repr(reference)
    assert list(model.state_dict()) == list(reference.state_dict())
    assert [type(m) for m in model.modules()][1:] == [type(m) for m in reference.modules()][1:]


def test_health_samples_read_the_rectified_activations(pairs_taken) -> None:
    model = alexnet()
    reference = copy.deepcopy(model)
    run_relus_after_max_pools(model)
    x = torch.randn(2, 1, 224, 224)
    samples = []
    for net in (model, reference):
        health = HealthMonitor(net, every=1, min_seconds=0)
        health.begin()
        net(x).sum().backward()
        samples.append({layer.name: layer for layer in health.end(step=1).layers})
    deferred, written = samples
    assert pairs_taken == []  # hooked: as written
    assert deferred.keys() == written.keys()
    for name in ("1", "4", "11"):  # the ReLUs that feed the pools
        assert deferred[name] == written[name]
        assert written[name].dead_fraction is not None and written[name].act_mean > 0
    # With the hooks gone, the pairs run pooled first again.
    assert torch.equal(model(x), reference(x))
    assert len(pairs_taken) == 3


def test_a_backward_hook_on_the_relu_sees_the_gradient_of_the_net_as_written(pairs_taken) -> None:
    model = alexnet()
    reference = copy.deepcopy(model)
    run_relus_after_max_pools(model)
    seen = []
    for net in (model, reference):
        net[1].register_full_backward_hook(lambda m, grad_in, grad_out: seen.append(grad_out[0]))
        forward_backward(
            net, torch.randn(2, 1, 224, 224, generator=torch.Generator().manual_seed(1))
        )
    assert torch.equal(seen[0], seen[1])
    assert [p for p in pairs_taken if p is model[2]] == []


def test_code_that_calls_the_modules_itself_gets_what_it_always_got(pairs_taken) -> None:
    model = alexnet()
    run_relus_after_max_pools(model)
    x = torch.randn(2, 1, 224, 224)
    features = []
    for module in model[:6]:  # a model file collecting features by walking its Sequential
        x = module(x)
        features.append(x)
    assert features[1].min() == 0  # the ReLU's output, rectified
    assert model[:2](torch.randn(2, 1, 224, 224)).min() == 0  # a slice of it
    assert pairs_taken == []
    # A pool called alone pools, whatever ran before it.
    assert model[2](-torch.ones(1, 1, 5, 5)).max() == -1


@pytest.mark.parametrize(
    "build",
    [
        # A module repeated so that a ReLU and a pool meet in children() but not in the forward.
        lambda: (
            (conv := nn.Conv2d(4, 4, 3, padding=1))
            and nn.Sequential(conv, nn.ReLU(), conv, nn.MaxPool2d(2))
        ),
        # A pool that returns its indices.
        lambda: nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU(), nn.MaxPool2d(2, return_indices=True)),
        # A Sequential whose forward is not nn.Sequential's: it may read the ReLU's output.
        lambda: type(
            "Skip", (nn.Sequential,), {"forward": lambda self, x: self[1](self[0](x)) + 1}
        )(nn.Conv2d(4, 4, 3), nn.ReLU(), nn.MaxPool2d(2)),
        # A subclass of ReLU: its forward may do more than rectify.
        lambda: nn.Sequential(
            nn.Conv2d(4, 4, 3), type("MyReLU", (nn.ReLU,), {})(), nn.MaxPool2d(2)
        ),
    ],
)
def test_sequentials_without_a_plain_relu_then_pool_are_left_alone(build) -> None:
    model = build()
    assert run_relus_after_max_pools(model) == 0
    assert not any(isinstance(m, PoolFirstSequential) for m in model.modules())


def test_a_relu_used_in_two_places_is_still_exact(pairs_taken) -> None:
    relu = nn.ReLU()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), relu, nn.MaxPool2d(2), nn.Conv2d(4, 4, 3), relu)
    reference = copy.deepcopy(model)
    assert run_relus_after_max_pools(model) == 1
    x = torch.randn(2, 1, 12, 12)
    out, grads = forward_backward(model, x)
    want_out, want_grads = forward_backward(reference, x)
    assert pairs_taken == [model[2]]
    assert torch.equal(out, want_out)
    assert all(torch.equal(grads[n], g) for n, g in want_grads.items())


def test_pairs_in_nested_sequentials_are_found() -> None:
    block = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
    model = nn.Sequential(block, nn.Flatten(), nn.Linear(4 * 13 * 13, 2))
    assert run_relus_after_max_pools(model) == 1
    assert type(block) is PoolFirstSequential and type(model) is nn.Sequential


def test_a_run_trains_with_the_pairs_deferred_and_its_checkpoint_loads_into_a_plain_model(
    tiny_config,
) -> None:
    config = dataclasses.replace(tiny_config, epochs=1)  # LeNet with ReLU and max-pooling
    trainer = Trainer(config)
    model = trainer.setup().model
    assert type(model) is PoolFirstSequential  # LeNet's two ReLU + max-pool pairs
    assert trainer.run() == 0
    plain = build_model(
        config.model, in_channels=1, num_classes=10, options=config.model_options
    ).module
    saved = torch.load(trainer.run_dir / "last.pt", weights_only=True)
    plain.load_state_dict(saved["model"])
    x = torch.randn(4, 1, 28, 28)
    # Close, not equal: the run may have chosen channels_last, which sums in another order.
    torch.testing.assert_close(plain.eval()(x), model.eval()(x), rtol=1e-5, atol=1e-6)


def test_a_compiled_run_keeps_the_model_as_written(tiny_config) -> None:
    config = dataclasses.replace(tiny_config, epochs=1, compile=True)
    model = Trainer(config).setup().eager_model
    assert not any(isinstance(m, PoolFirstSequential) for m in model.modules())


class FailingKernels:
    """Stands in for cnntui.engine.pool_kernels where Triton cannot build a kernel."""

    calls = 0

    @staticmethod
    def applies(x, pool) -> bool:
        return True

    @classmethod
    def max_pool_relu(cls, x, pool):
        cls.calls += 1
        raise RuntimeError("Failed to find C compiler")


def test_a_fused_kernel_that_fails_falls_back_once_and_the_log_says_why(
    tiny_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_relu, "fused_failure", None)
    monkeypatch.setattr(pool_relu, "_import_kernels", lambda: FailingKernels)
    monkeypatch.setattr(pool_relu, "_runs_on_triton", lambda x: True)
    trainer = Trainer(dataclasses.replace(tiny_config, epochs=1))
    messages: list[str] = []
    trainer.subscribers.append(
        lambda event: messages.append(event.message) if isinstance(event, LogMessage) else None
    )
    assert trainer.run() == 0
    assert FailingKernels.calls == 1  # then PyTorch's kernels, for the rest of the run
    said = [m for m in messages if "fused max-pool" in m]
    assert said == [
        "the fused max-pool + ReLU kernel failed (RuntimeError: Failed to find C compiler); "
        "pooling with PyTorch's kernels"
    ]
    summary = json.loads((trainer.run_dir / "summary.json").read_text())
    assert summary["final"]["test_accuracy"] is not None


@needs_cuda
def test_on_cuda_the_fused_kernels_match_pytorchs_bit_for_bit() -> None:
    from cnntui.engine import pool_kernels

    torch.manual_seed(0)
    pool = nn.MaxPool2d(3, 2)
    for dtype in (torch.bfloat16, torch.float32):
        x = torch.randn(128, 96, 54, 54, device="cuda", dtype=dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        x[:4, :, :6, :6] = 0.25  # ties
        fused_x, ref_x = x.clone().requires_grad_(), x.clone().requires_grad_()
        fused = pool_kernels.max_pool_relu(fused_x, pool)
        reference = F.relu(F.max_pool2d(ref_x, 3, 2))
        grad = torch.randn_like(reference)
        fused.backward(grad)
        reference.backward(grad)
        assert torch.equal(fused, reference)
        assert torch.equal(fused_x.grad, ref_x.grad)


@needs_cuda
def test_on_cuda_a_captured_step_through_the_fused_pairs_trains_as_the_net_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 5, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.LazyLinear(10),
    )  # fmt: skip
    model(torch.zeros(1, 1, 64, 64))
    model = model.cuda().to(memory_format=torch.channels_last)
    reference = copy.deepcopy(model)
    assert run_relus_after_max_pools(model) == 2
    static_x = torch.rand(32, 1, 64, 64, device="cuda")

    def step(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
            out = net(x)
        out.float().square().mean().backward()
        return out

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            model.zero_grad(set_to_none=False)
            step(model, static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    model.zero_grad(set_to_none=False)
    with torch.cuda.graph(graph):
        static_out = step(model, static_x)
    for _ in range(2):
        x = torch.rand(32, 1, 64, 64, device="cuda")
        static_x.copy_(x)
        for p in model.parameters():
            p.grad.zero_()
        graph.replay()
        reference.zero_grad(set_to_none=True)
        want = step(reference, x)
        assert torch.equal(static_out, want)
        for p, ref in zip(model.parameters(), reference.parameters(), strict=True):
            assert torch.equal(p.grad, ref.grad)


def test_the_kernels_are_compiled_ahead_for_each_pair_at_the_training_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled = []

    class RecordingKernels:
        @staticmethod
        def prewarm(shape, pool, dtype) -> None:
            compiled.append((shape, pool.kernel_size, dtype))

    monkeypatch.setattr(pool_relu, "fused_kernels", lambda: RecordingKernels)
    model = alexnet()
    shapes = checked_shapes(model, "alexnet", None, (1, 224, 224), "fmnist", num_classes=10)
    run_relus_after_max_pools(model)
    thread = pool_relu.prewarm_fused_kernels(model, shapes, 128, torch.bfloat16, CPU)
    assert thread is not None
    thread.join(timeout=60)
    assert compiled == [
        ((128, 96, 54, 54), 3, torch.bfloat16),
        ((128, 256, 26, 26), 3, torch.bfloat16),
        ((128, 256, 12, 12), 3, torch.bfloat16),
    ]
    # Nothing to compile without pairs, or without the trace's shapes.
    assert pool_relu.prewarm_fused_kernels(alexnet(), shapes, 128, torch.bfloat16, CPU) is None
    assert pool_relu.prewarm_fused_kernels(model, None, 128, torch.bfloat16, CPU) is None


@needs_cuda
def test_on_cuda_a_prewarmed_kernel_is_not_compiled_again_by_the_first_step() -> None:
    from cnntui.engine import pool_kernels

    def variants() -> int:
        return sum(len(cache[0]) for cache in pool_kernels._forward.device_caches.values()) + sum(
            len(cache[0]) for cache in pool_kernels._backward.device_caches.values()
        )

    pool = nn.MaxPool2d(3, 2)
    shape = (64, 48, 30, 30)  # a shape no other test compiles for
    before = variants()
    pool_kernels.prewarm(shape, pool, torch.float16)
    warmed = variants()
    assert warmed > before
    x = torch.randn(shape, device="cuda", dtype=torch.float16, requires_grad=True)
    pool_kernels.max_pool_relu(
        x.contiguous(memory_format=torch.channels_last), pool
    ).sum().backward()
    assert variants() == warmed


def test_the_first_fused_call_waits_for_the_compile_under_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []

    class SlowToCompile:
        @staticmethod
        def prewarm(shape, pool, dtype) -> None:
            time.sleep(0.3)
            events.append(f"compiled {shape[1]}")

        @staticmethod
        def applies(x, pool) -> bool:
            return True

        @staticmethod
        def max_pool_relu(x, pool):
            events.append("ran")
            return F.relu(F.max_pool2d(x, pool.kernel_size, pool.stride))

    monkeypatch.setattr(pool_relu, "fused_kernels", lambda: SlowToCompile)
    monkeypatch.setattr(pool_relu, "_runs_on_triton", lambda x: True)
    model = alexnet()
    shapes = checked_shapes(model, "alexnet", None, (1, 224, 224), "fmnist", num_classes=10)
    run_relus_after_max_pools(model)
    pool_relu.prewarm_fused_kernels(model, shapes, 2, torch.float32, CPU)
    model(torch.rand(2, 1, 224, 224))
    assert events == ["compiled 96", "compiled 256", "compiled 256", "ran", "ran", "ran"]


def test_a_failure_from_an_earlier_run_in_the_process_is_not_reported_again(
    tiny_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_relu, "fused_failure", "RuntimeError: an earlier run's")
    config = dataclasses.replace(tiny_config, epochs=1, model_options={})  # sigmoid LeNet
    trainer = Trainer(config)
    messages: list[str] = []
    trainer.subscribers.append(
        lambda event: messages.append(event.message) if isinstance(event, LogMessage) else None
    )
    assert trainer.run() == 0
    assert not [m for m in messages if "fused max-pool" in m]
