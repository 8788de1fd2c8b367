"""The CUDA-graph training step: when it applies, and that it trains exactly as the eager step.

The first group runs everywhere (the decision is plain logic). The second needs a CUDA device;
it runs on the GPU machine (`pytest tests/test_cuda_graph.py`, `bash bench/gpu.sh tests`), and on
CI, which has no GPU, it is reported as skipped. The last runs everywhere: the CPU takes the graph
path with a recorded step standing in for the captured one, so the orchestration around the
graph (warm-ups, shapes, eager steps in between, bookkeeping) is checked on every run.
"""

from __future__ import annotations

import dataclasses
import sys
import types

import pytest
import torch
from torch import nn

from cnntui.config import RunConfig
from cnntui.engine.distributed import SINGLE, DistContext
from cnntui.engine.events import EpochSummary, LogMessage, RunFailed, StepMetrics
from cnntui.engine.graph import StepGraph, _shape_key, graph_blocker
from cnntui.engine.setup import use_cuda_graph
from cnntui.engine.trainer import Trainer
from cnntui.errors import UsageError

CUDA = torch.device("cuda")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"compile": True}, "torch.compile"),
        ({"amp": "fp16"}, "loss scaling"),
        ({"schedule": "cosine"}, "schedule"),
        ({"warmup_epochs": 1.0}, "schedule"),
    ],
)
def test_what_rules_a_graph_out_is_named(change, reason) -> None:
    config = dataclasses.replace(RunConfig(), **change)
    assert reason in graph_blocker(config, CUDA, SINGLE)
    assert graph_blocker(RunConfig(), CUDA, SINGLE) is None
    assert graph_blocker(RunConfig(amp="bf16"), CUDA, SINGLE) is None
    assert "CUDA device" in graph_blocker(RunConfig(), torch.device("cpu"), SINGLE)
    two_ranks = DistContext(rank=0, world_size=2, local_rank=0)
    assert "data-parallel" in graph_blocker(RunConfig(), CUDA, two_ranks)


def test_only_optimizers_that_keep_their_state_on_the_device_are_captured() -> None:
    for name in ("sgd", "adam", "adamw", "rmsprop", "NAdam"):
        assert graph_blocker(RunConfig(optimizer=name), CUDA, SINGLE) is None, name
    # Adagrad keeps its step count on the host: a replay would reuse the capture's number.
    reason = graph_blocker(RunConfig(optimizer="Adagrad"), CUDA, SINGLE)
    assert reason is not None and "Adagrad" in reason


def test_the_first_full_batch_sets_the_graph_shape_not_a_ragged_one() -> None:
    # A run resumed at an epoch's last batch starts on the ragged one.
    graph = StepGraph(lambda x, y: None, lambda: None, CUDA, batch_size=64)
    ragged, full = torch.zeros(40, 1, 28, 28), torch.zeros(64, 1, 28, 28)
    labels = {40: torch.zeros(40, dtype=torch.long), 64: torch.zeros(64, dtype=torch.long)}
    assert not graph.fits(ragged, labels[40])
    assert graph.fits(full, labels[64])
    graph._shape = _shape_key(full, labels[64])  # what the first step through it records
    assert graph.fits(full, labels[64]) and not graph.fits(ragged, labels[40])
    assert not graph.fits(full.to(torch.float64), labels[64])


def test_the_graph_is_on_by_default_where_it_can_be_and_an_impossible_ask_is_an_error() -> None:
    on, note = use_cuda_graph(RunConfig(), CUDA, SINGLE)
    assert on and "CUDA graph" in note
    off, note = use_cuda_graph(RunConfig(schedule="onecycle"), CUDA, SINGLE)
    assert not off and "schedule" in note
    assert use_cuda_graph(RunConfig(), torch.device("cpu"), SINGLE) == (False, None)
    assert use_cuda_graph(RunConfig(cuda_graph=False), CUDA, SINGLE)[0] is False
    with pytest.raises(UsageError, match="cuda_graph=true"):
        use_cuda_graph(RunConfig(cuda_graph=True), torch.device("cpu"), SINGLE)


# --- on a GPU --------------------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def gpu_config(tmp_path, name: str, **changes) -> RunConfig:
    # 1,000 training images in batches of 64: 15 full batches and a ragged one of 40 per epoch,
    # so every epoch also runs an eager step between replays.
    config = RunConfig(
        model="lenet",
        dataset="synthetic:1x28x28:10:train=1000:test=256",
        epochs=3,
        batch_size=64,
        optimizer="sgd",
        lr=0.3,
        momentum=0.9,
        health_every=7,
        log_interval=0.01,
        deterministic=True,  # the same cuDNN kernels in both runs, so bit-equal weights
        device="cuda",
        run_dir=str(tmp_path / name),
    )
    return dataclasses.replace(config, **changes)


def train(config: RunConfig) -> tuple[int, list]:
    events: list = []
    return Trainer(config, subscribers=[events.append]).run(), events


def final_weights(config: RunConfig) -> dict[str, torch.Tensor]:
    state = torch.load(f"{config.run_dir}/last.pt", map_location="cpu", weights_only=True)
    return state["model"]


def messages(events: list, level: str) -> list[str]:
    return [e.message for e in events if isinstance(e, LogMessage) and e.level == level]


@needs_cuda
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_graphed_run_trains_exactly_as_the_eager_one(tmp_path, optimizer) -> None:
    lr = 0.3 if optimizer == "sgd" else 1e-3
    graphed = gpu_config(tmp_path, "g", optimizer=optimizer, lr=lr)
    eager = gpu_config(tmp_path, "e", optimizer=optimizer, lr=lr, cuda_graph=False)
    (code_g, events_g), (code_e, events_e) = train(graphed), train(eager)
    assert code_g == code_e == 0
    assert any("replays as one CUDA graph" in m for m in messages(events_g, "info"))
    assert any("CUDA graph off (cuda_graph=false)" in m for m in messages(events_e, "info"))
    assert messages(events_g, "warning") == []
    losses_g = [x for e in events_g if isinstance(e, StepMetrics) for x in e.losses]
    losses_e = [x for e in events_e if isinstance(e, StepMetrics) for x in e.losses]
    assert len(losses_g) == 3 * 16 and losses_g == losses_e
    # Batches of a device-resident set are kernels in the stream: no host-side data wait.
    assert {e.data_wait for e in events_g if isinstance(e, StepMetrics)} == {0.0}
    weights_g, weights_e = final_weights(graphed), final_weights(eager)
    for name, tensor in weights_e.items():
        assert torch.equal(weights_g[name], tensor), name
    accuracy = [e.test_accuracy for e in events_g if isinstance(e, EpochSummary)]
    assert accuracy == [e.test_accuracy for e in events_e if isinstance(e, EpochSummary)]


@needs_cuda
@pytest.mark.parametrize("matmul_stem", [True, False])
def test_dropout_and_bf16_train_through_the_graph(tmp_path, matmul_stem) -> None:
    config = gpu_config(
        tmp_path,
        "alex",
        model="alexnet",
        dataset="synthetic:1x28x28:10:train=512:test=128",
        resize=224,
        lr=0.01,
        momentum=0.0,
        amp="bf16",
        deterministic=False,
        epochs=4,
        matmul_stem=matmul_stem,
    )
    code, events = train(config)
    assert code == 0, [e.error for e in events if isinstance(e, RunFailed)]
    assert messages(events, "warning") == []
    assert any("replays as one CUDA graph" in m for m in messages(events, "info"))
    assert any("im2col" in m for m in messages(events, "info")) is matmul_stem
    epochs = [e for e in events if isinstance(e, EpochSummary)]
    assert epochs[-1].train_loss < epochs[0].train_loss


class SyncsInForward(nn.Module):
    """A forward that reads a value back to the host: legal eagerly, impossible in a capture.
    Its dropout draws from the CUDA generator before the failing read, inside the capture."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(28 * 28, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if out.abs().max().item() > 1e6:
            out = out / 1e6
        return out


@needs_cuda
def test_a_step_that_cannot_be_captured_falls_back_to_eager_with_a_warning(
    tmp_path, monkeypatch
) -> None:
    module = types.ModuleType("cnntui_test_syncing_model")
    module.SyncsInForward = SyncsInForward
    monkeypatch.setitem(sys.modules, module.__name__, module)
    config = gpu_config(tmp_path, "sync", model=f"{module.__name__}:SyncsInForward", epochs=1)
    code, events = train(config)
    assert code == 0
    assert any("CUDA graph capture failed" in m for m in messages(events, "warning"))
    assert sum(len(e.losses) for e in events if isinstance(e, StepMetrics)) == 16
    # The run went on eagerly after the failed capture and still learned something.
    assert [e for e in events if isinstance(e, EpochSummary)][-1].test_accuracy > 0.1
    # The aborted capture left the generator usable by the rest of the process: torch 2.11 left
    # it marked as capturing, and every later random draw on the GPU raised.
    assert torch.rand(4, device="cuda").shape == (4,)


# --- the orchestration, on any machine ---------------------------------------------------------


class ReplayedStep:
    """Stands in for a captured CUDA graph on the CPU: replaying runs the recorded step again,
    with the gradients written afresh as a real replay's backward writes them."""

    def __init__(self, step) -> None:
        self.step = step

    def replay(self) -> None:
        self.step()


def simulate_graphs(monkeypatch) -> list[int]:
    """Let the CPU take the graph path: warm-ups run inline, the capture records instead of
    capturing. Returns the batch sizes that went through the simulated graph."""
    import cnntui.engine.setup as setup_module
    from cnntui.engine import graph as graph_module

    replayed: list[int] = []
    monkeypatch.setattr(
        setup_module, "use_cuda_graph", lambda config, device, dist: (True, "simulated graph")
    )

    def warmup(self, x, y) -> None:
        self.clear_gradients()
        self.body(x, y)

    def capture(self, x, y) -> None:
        self.static_x, self.static_y = x.clone(), y.clone()
        self.clear_gradients()
        optimizer = self.body.__self__.optimizer  # the StepRunner whose step body this is

        def step() -> None:
            optimizer.zero_grad(set_to_none=False)
            replayed.append(self.static_x.shape[0])
            self.body(self.static_x, self.static_y)

        self.graph = ReplayedStep(step)

    monkeypatch.setattr(graph_module.StepGraph, "_warmup", warmup)
    monkeypatch.setattr(graph_module.StepGraph, "_capture", capture)
    return replayed


def test_the_graph_path_trains_as_the_eager_step_does(tmp_path, monkeypatch) -> None:
    """Warm-ups, capture, replays of the full batches, eager ragged batches and eager health
    samples in between, and the per-step bookkeeping: the same losses and weights as eager."""
    cpu = {"device": "cpu", "epochs": 2, "channels_last": False}
    eager = gpu_config(tmp_path, "eager", **cpu)
    code_e, events_e = train(eager)
    replayed = simulate_graphs(monkeypatch)
    graphed = gpu_config(tmp_path, "graphed", **cpu)
    code_g, events_g = train(graphed)
    assert code_e == code_g == 0
    assert any("simulated graph" in m for m in messages(events_g, "info"))
    # 15 full batches and a ragged one of 40 per epoch (steps 16 and 32). Of the 30 full ones,
    # 3 warm up and steps 7, 14, 21 and 28 sample health eagerly: 23 replays, the first at capture.
    assert replayed == [64] * (30 - 3 - 4)
    losses_e = [x for e in events_e if isinstance(e, StepMetrics) for x in e.losses]
    losses_g = [x for e in events_g if isinstance(e, StepMetrics) for x in e.losses]
    assert len(losses_g) == 32 and losses_g == losses_e
    weights_g, weights_e = final_weights(graphed), final_weights(eager)
    for name, tensor in weights_e.items():
        assert torch.equal(weights_g[name], tensor), name
