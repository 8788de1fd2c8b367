"""A step event's lr is the rate its step trained at, not the one the schedule set for the next.

Every run here reads its metrics after each step, so each event names one step's rate.
"""

from __future__ import annotations

import dataclasses

import pytest

from cnntui.engine.events import Event, StepMetrics
from cnntui.engine.trainer import Trainer
from cnntui.engine.window import WindowReading

STEPS_PER_EPOCH = 16  # tiny_config: 1,024 images in batches of 64


@pytest.fixture
def per_step_config(tiny_config):
    return dataclasses.replace(
        tiny_config, log_interval=1e-9, health_every=0, deterministic=True, momentum=0.0
    )


def rates(config) -> dict[int, float]:
    """Each step's reported rate, by its 1-based step number."""
    events: list[Event] = []
    assert Trainer(config, subscribers=[events.append]).run() == 0
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert [e.step for e in steps] == list(range(1, len(steps) + 1))  # one step per event
    return {e.step: e.lr for e in steps}


def test_a_step_decay_takes_effect_at_the_next_epochs_first_step(per_step_config) -> None:
    config = dataclasses.replace(per_step_config, schedule="step", step_size=1, gamma=0.5, lr=0.1)
    lr = rates(config)
    first_epoch = [lr[s] for s in range(1, STEPS_PER_EPOCH + 1)]
    second_epoch = [lr[s] for s in range(STEPS_PER_EPOCH + 1, 2 * STEPS_PER_EPOCH + 1)]
    # The epoch's last step trained at 0.1; it reported the 0.05 of the step after it.
    assert first_epoch == pytest.approx([0.1] * STEPS_PER_EPOCH)
    assert second_epoch == pytest.approx([0.05] * STEPS_PER_EPOCH)


def test_warm_up_starts_at_one_step_of_its_length(per_step_config) -> None:
    config = dataclasses.replace(per_step_config, warmup_epochs=0.5, lr=0.08)  # 8 steps
    lr = rates(config)
    assert [lr[s] for s in range(1, 10)] == pytest.approx([0.01 * k for k in range(1, 9)] + [0.08])


def test_one_cycle_ends_on_its_lowest_rate(per_step_config) -> None:
    lr = rates(dataclasses.replace(per_step_config, schedule="onecycle", lr=0.1))
    peak = max(lr, key=lambda s: lr[s])
    assert lr[1] == pytest.approx(0.1 / 25)  # OneCycleLR's initial rate: max_lr / div_factor
    descent = [lr[s] for s in range(peak, len(lr) + 1)]
    # The step after the last one would rise again: the old report ended on it.
    assert descent == sorted(descent, reverse=True)
    assert lr[len(lr)] == min(lr.values())


def test_a_window_cut_at_a_divergence_keeps_its_steps_rates() -> None:
    reading = WindowReading(3, 12, [1.0, 2.0, 3.0], [4, 4, 4], 0, 1, None, [], lrs=[0.3, 0.2, 0.1])
    assert reading.head(2).lrs == [0.3, 0.2]
