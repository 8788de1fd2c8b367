"""cuDNN times kernels for the training batch's shapes only (cnntui.engine.step.stop_autotuning)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from cnntui.engine import setup as engine_setup
from cnntui.engine.step import StepRunner
from cnntui.engine.trainer import Trainer
from cnntui.engine.window import StepWindow


@pytest.fixture(autouse=True)
def _restore_the_flag():
    before = torch.backends.cudnn.benchmark
    yield
    torch.backends.cudnn.benchmark = before


@pytest.mark.parametrize("wide", [True, False])
def test_autotuning_covers_the_first_full_batch_and_nothing_after(
    tiny_config, monkeypatch: pytest.MonkeyPatch, wide: bool
) -> None:
    # A wide net's run (use_cudnn_benchmark says so) on 1,000 images: 15 batches of 64 and a
    # ragged one of 40, then the evaluation's batches.
    monkeypatch.setattr(engine_setup, "use_cudnn_benchmark", lambda config, model: wide)
    config = dataclasses.replace(
        tiny_config, epochs=2, dataset="synthetic:1x28x28:10:train=1000:test=100"
    )
    trainer = Trainer(config)
    model = trainer.setup().model
    seen: list[tuple[bool, int, bool]] = []  # (training, batch, autotuning) per forward
    model.register_forward_pre_hook(
        lambda module, args: seen.append(
            (module.training, args[0].shape[0], torch.backends.cudnn.benchmark)
        )
    )
    assert trainer.run() == 0
    training = [(batch, tuning) for is_training, batch, tuning in seen if is_training]
    assert [batch for batch, _ in training] == ([64] * 15 + [40]) * 2
    assert training[0] == (64, wide)
    # The ragged batches and every evaluation batch pick kernels without timing them.
    assert not any(tuning for _, _, tuning in seen[1:])


def test_a_ragged_first_batch_leaves_autotuning_on_for_the_first_full_one(
    tiny_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run resumed at an epoch's last batch begins with a ragged one.
    monkeypatch.setattr(engine_setup, "use_cudnn_benchmark", lambda config, model: True)
    setup = Trainer(dataclasses.replace(tiny_config, epochs=1)).setup()
    window = StepWindow(64, setup.device, list(setup.model.parameters()))
    steps = StepRunner(setup, nn.CrossEntropyLoss(), window, lambda event: None, print)
    tuning = []
    for batch in (40, 64, 64):
        tuning.append(torch.backends.cudnn.benchmark)
        steps(torch.rand(batch, 1, 28, 28), torch.zeros(batch, dtype=torch.long))
    assert tuning == [True, True, False]
