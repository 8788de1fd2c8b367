"""A run stopped before it started leaves nothing behind; one that ran says how it ended;
one that would overwrite another is refused."""

from __future__ import annotations

import dataclasses

import pytest

from cnntui.engine.events import RunFinished
from cnntui.engine.trainer import Trainer
from cnntui.errors import UsageError
from cnntui.tui.outcome import RunOutcome


def test_a_run_set_up_but_never_started_leaves_no_directory(tiny_config) -> None:
    trainer = Trainer(tiny_config)
    trainer.setup()
    run_dir = trainer.run_dir
    assert run_dir is not None and (run_dir / "config.json").exists()
    assert trainer.discard_unstarted()
    assert not run_dir.exists()
    assert trainer.run_dir is None


def test_a_run_that_trained_keeps_its_directory(tiny_config) -> None:
    trainer = Trainer(dataclasses.replace(tiny_config, epochs=1))
    assert trainer.run() == 0
    run_dir = trainer.run_dir
    assert not trainer.discard_unstarted()
    assert (run_dir / "events.jsonl").stat().st_size > 0 and (run_dir / "last.pt").exists()


def test_a_resumed_run_stopped_before_it_started_keeps_the_earlier_run(tiny_config) -> None:
    first = Trainer(dataclasses.replace(tiny_config, epochs=1))
    assert first.run() == 0
    run_dir = first.run_dir
    events_before = (run_dir / "events.jsonl").read_text()
    resumed = Trainer(tiny_config, resume_from=run_dir / "last.pt", resume_overrides={"epochs": 2})
    resumed.setup()
    assert resumed.discard_unstarted()  # not started, but its directory holds the first run
    assert (run_dir / "events.jsonl").read_text() == events_before
    assert (run_dir / "last.pt").exists()


def test_the_outcome_line_says_how_the_run_ended_and_where_it_is(tiny_config) -> None:
    outcome = RunOutcome()
    assert outcome.line() is None  # a run that never ended
    trainer = Trainer(dataclasses.replace(tiny_config, epochs=1))
    trainer.subscribe(outcome)
    assert trainer.run() == 0
    line = outcome.line()
    assert line is not None and line.startswith("cnntui: finished after 16 steps in ")
    assert "best accuracy" in line and line.endswith(f"· run directory: {trainer.run_dir}")


def test_the_outcome_line_of_an_interrupted_run_without_a_directory() -> None:
    outcome = RunOutcome()
    outcome(RunFinished(status="interrupted", exit_code=130, step=7, epoch=0, duration=1.5))
    assert outcome.line() == "cnntui: interrupted after 7 steps in 1.5s"


def test_a_run_dir_from_the_api_that_holds_a_run_is_refused_and_left_alone(tiny_config) -> None:
    first = Trainer(dataclasses.replace(tiny_config, epochs=1, max_steps=2))
    assert first.run() == 0
    run_dir = first.run_dir
    before = {path.name: path.read_bytes() for path in run_dir.iterdir()}
    second = Trainer(tiny_config)  # the same run_dir, not a resume
    with pytest.raises(UsageError, match="already holds a run"):
        second.setup()
    assert {path.name: path.read_bytes() for path in run_dir.iterdir()} == before
