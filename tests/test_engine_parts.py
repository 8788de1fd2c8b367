"""Engine pieces on their own: schedules, optimisers, checkpoints, layout choice, device stats."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import cnntui.engine.health as health_module
import cnntui.engine.layout as layout_module
import cnntui.engine.tally as tally_module
from cnntui.config import RunConfig
from cnntui.engine.checkpoint import load_checkpoint, save_checkpoint
from cnntui.engine.device_stats import DeviceMonitor
from cnntui.engine.divergence import DivergenceWatch
from cnntui.engine.health import MIN_SECONDS_BETWEEN_SAMPLES, HealthMonitor
from cnntui.engine.layout import prefer_channels_last
from cnntui.engine.optim import build_optimizer, build_schedule, initialize_weights
from cnntui.engine.tally import EpochTally
from cnntui.engine.window import WindowReading
from cnntui.errors import CnntuiError, UsageError
from cnntui.zoo import build_model


def lrs(config: RunConfig, steps_per_epoch: int = 10) -> list[float]:
    param = nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer(config, [param], torch.device("cpu"))
    schedule = build_schedule(config, optimizer, steps_per_epoch)
    values = []
    for _ in range(config.epochs * steps_per_epoch):
        values.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    return values


def test_warmup_then_constant() -> None:
    values = lrs(RunConfig(lr=1.0, epochs=3, warmup_epochs=1))
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[10:] == [pytest.approx(1.0)] * 20


def test_step_schedule_decays_every_step_size_epochs() -> None:
    values = lrs(RunConfig(lr=1.0, epochs=4, schedule="step", step_size=2, gamma=0.5))
    assert values[0] == values[19] == 1.0
    assert values[20] == values[39] == 0.5


def test_cosine_falls_to_zero() -> None:
    values = lrs(RunConfig(lr=1.0, epochs=2, schedule="cosine"))
    assert values[0] == 1.0 and values[10] == pytest.approx(0.5, abs=0.05)
    assert values[-1] < 0.01 and values == sorted(values, reverse=True)


def test_onecycle_peaks_at_the_configured_lr() -> None:
    values = lrs(RunConfig(lr=0.5, epochs=2, schedule="onecycle"))
    assert max(values) == pytest.approx(0.5, rel=1e-3)
    assert values[0] < 0.05 and values[-1] < 0.001


def test_sgd_options_reach_the_optimizer() -> None:
    config = RunConfig(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    optimizer = build_optimizer(config, [nn.Parameter(torch.zeros(1))], torch.device("cpu"))
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.9, True, 1e-4)


def test_any_torch_optim_class_by_name_with_preset_arguments() -> None:
    config = RunConfig(optimizer="NAdam", lr=0.01, optimizer_args={"momentum_decay": 0.005})
    optimizer = build_optimizer(config, [nn.Parameter(torch.zeros(1))], torch.device("cpu"))
    assert type(optimizer).__name__ == "NAdam"
    assert optimizer.param_groups[0]["momentum_decay"] == 0.005
    with pytest.raises(UsageError, match="unknown optimizer 'Adamm'"):
        build_optimizer(
            dataclasses.replace(config, optimizer="Adamm"), [nn.Parameter(torch.zeros(1))], "cpu"
        )


def test_xavier_touches_only_conv_and_linear_weights() -> None:
    torch.manual_seed(0)
    model = build_model("lenet-bn").module
    bn_before = model[1].weight.clone()
    bias_before = model[0].bias.clone()
    conv_before = model[0].weight.clone()
    initialize_weights(model, "xavier")
    assert torch.equal(model[1].weight, bn_before) and torch.equal(model[0].bias, bias_before)
    assert not torch.equal(model[0].weight, conv_before)
    bound = math.sqrt(6 / (1 * 25 + 6 * 25))
    assert model[0].weight.abs().max() <= bound


def test_checkpoints_round_trip_with_weights_only(tmp_path) -> None:
    state = {"model": {"w": torch.arange(3.0)}, "step": 7, "config": {"lr": 0.1}}
    save_checkpoint(state, tmp_path / "last.pt")
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert loaded["step"] == 7 and torch.equal(loaded["model"]["w"], torch.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp files left


def test_a_crash_during_save_leaves_the_previous_checkpoint_intact(tmp_path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.zeros(2)}, "step": 1, "config": {}}, path)
    # A child process starts writing a big checkpoint and dies mid-write (os._exit: no cleanup).
    script = textwrap.dedent(
        f"""
        import os, torch
        from cnntui.engine import checkpoint

        real_save = torch.save

        def dying_save(obj, f):
            real_save(obj, f)
            f.flush()
            os._exit(9)  # killed after the bytes hit the temp file, before the rename

        torch.save = dying_save
        state = {{"model": {{"w": torch.ones(1000)}}, "step": 2, "config": {{}}}}
        checkpoint.save_checkpoint(state, {str(path)!r})
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert child.returncode == 9
    assert load_checkpoint(path)["step"] == 1


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.zeros(100)}, "step": 1}, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CnntuiError, match="cannot read checkpoint"):
        load_checkpoint(path)


def test_layout_probe_leaves_the_model_and_the_rng_alone() -> None:
    model = build_model("lenet").module
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    rng = torch.get_rng_state()
    assert prefer_channels_last(model, x, y, torch.device("cpu")) in (True, False)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    mlp = build_model("mlp").module
    assert prefer_channels_last(mlp, x, y, torch.device("cpu")) is False


def batch_sizes_seen(model: nn.Module) -> list[int]:
    """The batch size of every forward pass of `model` and of the probe's copies of it."""
    sizes: list[int] = []
    model.register_forward_pre_hook(lambda _module, args: sizes.append(len(args[0])))
    return sizes


def charge_per_example(monkeypatch, seconds: float, sizes: list[int]) -> None:
    """Replace the probe's clock: each timed pass really runs, once, and is charged `seconds` for
    each example in it. The sizing then follows from the net's cost alone, not from how busy the
    machine is (a loaded CI runner once made LeNet look slow enough for 243 examples)."""

    def charged(one_pass, device, rounds=3) -> float:
        one_pass()
        return seconds * sizes[-1]

    monkeypatch.setattr(layout_module, "best_seconds_per_call", charged)


def test_the_layout_probe_sizes_its_passes_to_the_net(monkeypatch) -> None:
    """ResNet-18 at 96 pixels took 100 s to probe on 2 cores over 256 examples a pass."""
    x, y = torch.rand(256, 1, 28, 28), torch.randint(0, 10, (256,))
    model = build_model("lenet").module
    sizes = batch_sizes_seen(model)
    charge_per_example(monkeypatch, 1e-6, sizes)  # a fast net: the full probe batch
    prefer_channels_last(model, x, y, torch.device("cpu"))
    assert sizes == [4, 256, 256]  # the sizing pass, then each layout
    sizes.clear()
    charge_per_example(monkeypatch, 1e-2, sizes)  # 4 examples take 40 ms: 20 fill PASS_SECONDS
    prefer_channels_last(model, x, y, torch.device("cpu"))
    assert sizes == [4, 20, 20]


def test_a_net_too_slow_to_time_gets_the_width_rule(monkeypatch) -> None:
    x, y = torch.rand(256, 1, 28, 28), torch.randint(0, 10, (256,))
    model = build_model("lenet").module
    sizes = batch_sizes_seen(model)
    charge_per_example(monkeypatch, 0.3, sizes)  # 4 examples take 1.2 s, over 5 x PASS_SECONDS
    assert prefer_channels_last(model, x, y, torch.device("cpu")) is False  # 6 and 16 channels
    assert sizes == [4]  # only the pass that found it slow


def test_cpu_device_stats_report_process_memory() -> None:
    stats = DeviceMonitor(torch.device("cpu")).sample()
    assert stats.device == "cpu" and stats.rss > 10_000_000
    assert stats.cpu_percent is not None and stats.memory_allocated is None


def test_largest_fitting_batch_halves_until_a_step_fits() -> None:
    from cnntui.engine.oom import largest_fitting_batch

    tried: list[int] = []

    def probe(batch: int) -> None:
        tried.append(batch)
        if batch > 48:
            raise torch.OutOfMemoryError("CUDA out of memory")

    assert largest_fitting_batch(probe, 256) == 32
    assert tried == [128, 64, 32]

    def never(batch: int) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    assert largest_fitting_batch(never, 8) is None


def test_health_samples_at_most_four_a_second_unless_the_run_is_deterministic(
    monkeypatch,
) -> None:
    # The monitor's clock, set by hand: a loaded machine can stall between two real reads for
    # longer than the spacing, and the samples "within microseconds" were then all taken.
    now = [100.0]
    monkeypatch.setattr(health_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    paced = HealthMonitor(model, every=5)
    # Steps 5, 10, 15 come within microseconds: only the first is sampled.
    assert [paced.due(step) for step in (5, 10, 15)] == [True, False, False]
    now[0] += MIN_SECONDS_BETWEEN_SAMPLES * 0.9
    assert not paced.due(20)  # still within the spacing
    now[0] += MIN_SECONDS_BETWEEN_SAMPLES * 0.2
    assert not paced.due(22)  # never between multiples of `every`
    assert paced.due(25)  # the spacing has passed since the sample at step 5
    assert not paced.due(30)
    by_count = HealthMonitor(model, every=5, min_seconds=0.0)
    assert [by_count.due(step) for step in (5, 7, 10, 15)] == [True, False, True, True]


def test_an_epoch_tally_leaves_out_paused_time_and_carries_a_resumed_epochs_part(
    monkeypatch,
) -> None:
    clock = iter([100.0, 107.0, 107.0, 107.0])  # begin, then the reads of the clock
    monkeypatch.setattr(tally_module.time, "perf_counter", lambda: next(clock))
    tally = EpochTally.begin({"loss_sum": 20.0, "correct": 5, "examples": 10, "seconds": 3.0})
    tally.add(WindowReading(2, 30, [1.0, 2.0], [20, 10], 12, None, None, []))
    tally.pause(2.0)
    assert (tally.examples, tally.correct) == (40, 17)
    assert tally.loss == pytest.approx((20.0 + (1.0 * 20 + 2.0 * 10)) / 40)
    assert tally.seconds == pytest.approx(3.0 + 7.0 - 2.0)
    assert tally.stop() == pytest.approx(5.0)  # this process's share: the 3 s came before
    assert tally.seconds == pytest.approx(8.0)  # stopped: the clock is no longer read


@pytest.mark.parametrize("name", ["xpu", "hpu", "nonsense"])
def test_a_device_a_run_cannot_train_on_is_unknown(name: str) -> None:
    # torch.device accepts xpu, hpu: each failed later in the set-up with a traceback.
    from cnntui.engine.setup import resolve_device

    with pytest.raises(UsageError, match=rf"^unknown device '{name}'; use auto, cpu, cuda"):
        resolve_device(name)


def test_meta_is_refused_for_what_it_cannot_do() -> None:
    # shapes takes meta, so to a run it is not unknown: it holds no values to train.
    from cnntui.engine.setup import resolve_device

    with pytest.raises(UsageError, match=r"^device 'meta' cannot train a run; use auto, cpu,"):
        resolve_device("meta")


def test_a_device_this_machine_lacks_is_a_usage_error(monkeypatch) -> None:
    from cnntui.engine.setup import resolve_device

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(
        UsageError, match=r"^--device mps: torch sees no MPS \(Apple GPU\) here; use cpu$"
    ):
        resolve_device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UsageError, match=r"^--device cuda:1: torch sees only cuda:0$"):
        resolve_device("cuda:1")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    with pytest.raises(UsageError, match=r"^--device cuda:4: torch sees only cuda:0 to cuda:3$"):
        resolve_device("cuda:4")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["LBFGS", "sparseadam", "muon"])
def test_an_optimizer_whose_step_the_loop_cannot_make_is_refused_at_set_up(name: str) -> None:
    # LBFGS and SparseAdam were built, listed as choices, then failed the run at step 0
    # (TypeError for LBFGS's missing closure, RuntimeError for SparseAdam's dense gradients),
    # exit 1. Muon was listed, then refused the model's 1-D bias by torch's own words.
    model = nn.Linear(4, 2)
    config = RunConfig(optimizer=name)
    with pytest.raises(UsageError, match=rf"^optimizer {name} cannot train here: "):
        build_optimizer(config, model.parameters(), torch.device("cpu"))
    with pytest.raises(UsageError) as unknown:
        build_optimizer(RunConfig(optimizer="nope"), model.parameters(), torch.device("cpu"))
    offered = str(unknown.value)
    assert "NAdam" in offered
    assert not [
        untrainable for untrainable in ("LBFGS", "SparseAdam", "Muon") if untrainable in offered
    ]


def test_the_blowing_up_warning_writes_numbers_as_the_dashboard_does() -> None:
    """It said "the loss reached 1.69e+07 … (now 1e+06)" beside the dashboard's "1.7e7" and
    "lr 1.0e6": one figure, two spellings."""
    watch = DivergenceWatch(HealthMonitor(nn.Linear(2, 2), every=5), lr=1e6)
    warning = watch.blowing_up(WindowReading(2, 8, [2.3, 1.69e7], [4, 4], 0, None, None, []), 1)
    assert warning is not None
    assert "reached 1.7e7 at step 2, from 2.3 at the start" in warning
    assert "(now 1.0e6)" in warning and "e+" not in warning
