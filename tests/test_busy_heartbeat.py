"""A live run busy in a long phase that emits nothing (its first step, an evaluation, a
checkpoint's write) writes heartbeats through it, so `watch` does not take it for killed; they
say the phase, the first as it begins, so that a dashboard shows what the run is doing."""

from __future__ import annotations

import dataclasses
import json
import time
from itertools import pairwise
from pathlib import Path

import pytest

from cnntui.engine import epoch_end
from cnntui.engine.events import (
    CheckpointSaved,
    Event,
    Heartbeat,
    RunFinished,
    RunStarted,
    StateChanged,
    StepMetrics,
    event_from_dict,
)
from cnntui.engine.trainer import Trainer
from cnntui.runlog import EVENTS_FILE

BEAT = 0.2  # seconds between heartbeats here; a real run's are HEARTBEAT_EVERY apart
SLOW = 1.0  # seconds each slow phase takes: several heartbeats' worth


def logged(run_dir: Path) -> list[Event]:
    lines = (run_dir / EVENTS_FILE).read_text().splitlines()
    return [event_from_dict(json.loads(line)) for line in lines if line.strip()]


def test_a_run_busy_in_its_first_step_evaluation_and_saves_writes_heartbeats(
    tiny_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = dataclasses.replace(tiny_config, epochs=1)
    trainer = Trainer(config)
    trainer.heartbeat_every = BEAT
    model = trainer.setup().model
    calls = {"train": 0, "eval": 0}
    began: dict[str, list[float]] = {"first step": [], "evaluation": [], "saves": []}

    def slow_phases(module, args) -> None:
        # The first training step as torch.compile's or a CUDA graph's capture; every batch of
        # the evaluation (4 batches of 64) as a big model's on a CPU.
        mode = "train" if module.training else "eval"
        calls[mode] += 1
        if mode == "eval" or calls[mode] == 1:
            began["first step" if mode == "train" else "evaluation"].append(time.time())
            time.sleep(SLOW if mode == "train" else SLOW / 4)

    model.register_forward_pre_hook(slow_phases)
    save = epoch_end.save_checkpoint

    def slow_save(*args, **kwargs):  # a big model's checkpoint on a slow disk
        began["saves"].append(time.time())
        time.sleep(SLOW)
        return save(*args, **kwargs)

    monkeypatch.setattr(epoch_end, "save_checkpoint", slow_save)
    assert trainer.run() == 0
    assert calls["eval"] == 4
    events = logged(Path(config.run_dir))
    kinds = [e.kind for e in events]

    # From the first event to the last, no quiet much longer than the period the run states.
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert all(e.heartbeat_every == BEAT for e in events if isinstance(e, StateChanged))
    gaps = [later.time - earlier.time for earlier, later in pairwise(events)]
    assert max(gaps) < BEAT + 0.5 < SLOW, max(gaps)  # slack for a busy machine
    # A heartbeat where nothing else came for the period, or one that says a phase begins,
    # right after the event before it.
    for a, b in pairwise(events):
        if isinstance(b, Heartbeat) and b.time - a.time < 0.9 * BEAT:
            assert b.phase != "training" and not isinstance(a, Heartbeat), (a, b)

    def beats(start: int, end: int) -> list[Heartbeat]:
        return [e for e in events[start:end] if isinstance(e, Heartbeat)]

    # In each slow phase, some SLOW / BEAT of them (more where the phase's own work is slow on a
    # busy machine: they come no faster than the period, as checked above), at the step the run
    # stands at.
    steps = [i for i, e in enumerate(events) if isinstance(e, StepMetrics)]
    evaluated, summed = kinds.index("evaluation"), kinds.index("epoch")
    saved = [i for i, e in enumerate(events) if isinstance(e, CheckpointSaved)]
    assert [events[i].reason for i in saved] == ["best", "last"]
    phases = {
        # Those at step 0: one due as the first step ends may say "training" (step 1) before
        # the first read window's step event comes.
        "first step": [b for b in beats(kinds.index("state"), steps[0]) if b.step == 0],
        "evaluation": beats(steps[-1], evaluated),
        "best.pt": beats(summed, saved[0]),
        "last.pt": beats(saved[0], saved[1]),
    }
    for name, beaten in phases.items():
        assert len(beaten) >= 3, (name, [b.time for b in beaten])
    # Each says its phase, the first before the phase's work began (a dashboard shows it at
    # once, not after the period).
    said = {
        "first step": ("first step", began["first step"][0]),
        "evaluation": ("evaluating test", began["evaluation"][0]),
        "best.pt": ("saving best.pt", began["saves"][0]),
        "last.pt": ("saving last.pt", began["saves"][1]),
    }
    for name, (phase, work_began) in said.items():
        assert {b.phase for b in phases[name]} == {phase}, (name, phases[name])
        assert phases[name][0].time <= work_began, name
    assert {b.step for b in phases["first step"]} == {0}
    last_step = events[steps[-1]].step
    assert {b.step for name, beaten in phases.items() if name != "first step" for b in beaten} == {
        last_step
    }
