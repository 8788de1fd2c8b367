"""A paused run writes a heartbeat to events.jsonl now and then, so that `watch` can tell a live
paused run from one killed while paused; none while events flow (training), nor on --json's
stdout."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from itertools import pairwise
from pathlib import Path

from test_trainer import paused_in_a_thread, wait_until

from cnntui.engine.events import Heartbeat, StateChanged, StepMetrics, event_from_dict
from cnntui.engine.trainer import Trainer
from cnntui.headless import JsonReporter, PlainReporter
from cnntui.runlog import EVENTS_FILE

BEAT = 0.2  # seconds between heartbeats here; a real run's are HEARTBEAT_EVERY apart


def logged(run_dir: Path) -> list[dict]:
    lines = (run_dir / EVENTS_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_a_paused_run_writes_heartbeats_to_its_log_and_none_to_stdout(tiny_config) -> None:
    config = dataclasses.replace(tiny_config, epochs=50)
    stdout = io.StringIO()
    trainer = Trainer(config, subscribers=[JsonReporter(stdout)])
    trainer.heartbeat_every = BEAT
    run_dir = Path(config.run_dir)
    with paused_in_a_thread(trainer) as worker:
        wait_until(lambda: (run_dir / EVENTS_FILE).exists(), "the run directory", worker)
        wait_until(lambda: len(paused_beats(run_dir)) >= 3, "three heartbeats", worker)
        paused_step = paused_beats(run_dir)[0]["step"]
        trainer.resume()
        wait_until(
            lambda: any(e["event"] == "step" and e["step"] > paused_step for e in logged(run_dir)),
            "training to go on",
            worker,
        )
        time.sleep(3 * BEAT)  # training: steps come every 10 ms, and no heartbeat among them
    events = [event_from_dict(line) for line in logged(run_dir)]
    kinds = [e.kind for e in events]
    paused_at = next(
        i for i, e in enumerate(events) if isinstance(e, StateChanged) and e.state == "paused"
    )
    resumed_at = kinds.index("state", paused_at + 1)
    paused = [e for e in events[paused_at:resumed_at] if isinstance(e, Heartbeat)]
    # While paused, each carrying the step it paused at and its phase, BEAT apart or more.
    assert len(paused) >= 3
    assert {beat.step for beat in paused} == {events[paused_at].step}
    assert {beat.phase for beat in paused} == {"paused"}
    assert events[paused_at].heartbeat_every == BEAT  # watch knows how long to wait for one
    times = [events[paused_at].time] + [beat.time for beat in paused]
    assert all(later - earlier >= BEAT * 0.9 for earlier, later in pairwise(times))
    # Any other only where nothing else came for BEAT (none while the steps' events flowed), or
    # where a phase begins (the first step, an epoch's evaluation and saves), right after the
    # event before it.
    for before, event in pairwise(events):
        if isinstance(event, Heartbeat) and event.time - before.time < BEAT * 0.9:
            assert event.phase != "training" and not isinstance(before, Heartbeat), (before, event)
    assert isinstance(events[resumed_at], StateChanged)
    assert events[resumed_at].state == "running" and events[resumed_at].heartbeat_every == BEAT
    assert any(isinstance(e, StepMetrics) for e in events[resumed_at:])
    # stdout's JSON lines are the log's, less the heartbeats.
    printed = [json.loads(line)["event"] for line in stdout.getvalue().splitlines()]
    assert printed == [k for k in kinds if k != "heartbeat"]


def paused_beats(run_dir: Path) -> list[dict]:
    return [e for e in logged(run_dir) if e["event"] == "heartbeat" and e["phase"] == "paused"]


def test_the_plain_printer_says_nothing_of_a_heartbeat() -> None:
    out = io.StringIO()
    PlainReporter(out)(Heartbeat(step=7))
    assert out.getvalue() == ""


def test_a_subscriber_that_fails_on_a_heartbeat_fails_the_run_as_on_the_training_thread(
    tiny_config,
) -> None:
    """The pulse's thread died with "Exception in thread cnntui-pulse" over the dashboard, the
    run went on without heartbeats, and `watch` took it for silent."""

    def fussy(event) -> None:
        if isinstance(event, Heartbeat) and event.phase == "paused":  # the pulse's, not the loop's
            raise ValueError("no beats here")

    config = dataclasses.replace(tiny_config, epochs=50)
    trainer = Trainer(config, subscribers=[fussy])
    trainer.heartbeat_every = BEAT
    with paused_in_a_thread(trainer) as worker:
        worker.join(timeout=30)  # the failure stops the paused run by itself
        assert not worker.is_alive()
    assert trainer.state == "failed"
    summary = json.loads((Path(config.run_dir) / "summary.json").read_text())
    assert summary["exit_code"] == 1
    assert summary["message"] == "a subscriber failed on a heartbeat: ValueError('no beats here')"
