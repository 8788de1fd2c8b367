"""The header says what a run busy in a long phase is doing (`● RUNNING · evaluating the test
set`), as its heartbeats say it, and stops saying it once the steps go on: through a phase that
reports nothing, its step counter stood still under a bare RUNNING, which looked like a hang."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

from conftest import live_app, pane_text
from scripted_run import FakeTrainer, dated, record, scripted_events, until

from cnntui.engine.events import (
    Evaluation,
    Event,
    Heartbeat,
    LogMessage,
    StateChanged,
    StepMetrics,
)
from cnntui.engine.trainer import Trainer
from cnntui.runlog import EVENTS_FILE, event_to_json
from cnntui.tui.app import Dashboard
from cnntui.tui.sources import FileSource

STEPS_PER_EPOCH = 16  # tiny_config: 1,024 images in batches of 64


async def test_a_live_run_shows_its_evaluation_at_once_and_clears_it_when_steps_go_on(
    tiny_config,
) -> None:
    """A real run whose first evaluation, then its third step of the next epoch, wait for the
    test: the evaluation shows within seconds (its heartbeats come 10 s apart), and the steps
    that follow clear it."""
    config = dataclasses.replace(tiny_config, epochs=2, log_interval=1e-6)  # a window a step
    trainer = Trainer(config)
    model = trainer.setup().model
    evaluating, training = threading.Event(), threading.Event()
    evaluated, trained = threading.Event(), threading.Event()  # set by the test: go on
    calls = {"train": 0, "eval": 0}

    def hold(module, args) -> None:
        mode = "train" if module.training else "eval"
        calls[mode] += 1
        if mode == "eval" and calls[mode] == 1:
            evaluating.set()
            evaluated.wait(60)
        elif mode == "train" and calls[mode] == STEPS_PER_EPOCH + 3:
            training.set()
            trained.wait(60)

    model.register_forward_pre_hook(hold)
    app = live_app(trainer)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            assert await until(pilot, evaluating.is_set)
            said = "● RUNNING · evaluating the test set  epoch 1/2  step 16/32"
            assert trainer.heartbeat_every == 10  # the pulse's first beat would come after that
            assert await until(pilot, lambda: said in pane_text(app, "#header"), timeout=5)
            evaluated.set()
            assert await until(pilot, training.is_set)  # the third step of epoch 2 waits
            assert await until(pilot, lambda: app.state.step > STEPS_PER_EPOCH)
            await pilot.pause(0.2)
            header = pane_text(app, "#header")
            assert "● RUNNING  epoch 2/2  step 18/32" in header, header
            trained.set()
            assert await until(pilot, lambda: app.state.status == "finished", timeout=120)
    finally:
        evaluated.set()
        trained.set()


def append(run_dir: Path, *events: Event) -> None:
    """Lines a run writes to its events.jsonl after watch has opened it."""
    with open(run_dir / EVENTS_FILE, "a") as log:
        log.writelines(event_to_json(event) + "\n" for event in events)


async def test_watch_shows_the_phase_each_heartbeat_says_until_an_event_ends_it(
    tmp_path: Path,
) -> None:
    # Events are timed when made (now), as a live run's: watch takes none of it for silence.
    events = dated(scripted_events(finish=False, upto_step=100), time.time())
    running = StateChanged(state="running", step=100, heartbeat_every=10.0)
    run_dir = record(tmp_path / "run", [*events, running])
    app = Dashboard(FileSource(run_dir, interval=0.02), watch_path=run_dir, poll_interval=0.05)

    def header() -> str:
        return pane_text(app, "#header")

    async def shows(text: str, *events: Event, pane=header) -> None:
        append(run_dir, *events)
        assert await until(pilot, lambda: text in pane(), timeout=10), pane()

    def log() -> str:  # what the log pane holds, shown or not at this size
        return "\n".join(line.text for line in app.state.log)

    async with app.run_test(size=(100, 24)) as pilot:
        assert await until(pilot, lambda: "● RUNNING  epoch 1/3  step 100/300" in header())
        await shows(
            "● RUNNING · evaluating the validation set  epoch 1/3  step 100/300",
            Heartbeat(step=100, phase="evaluating val"),
        )
        # The evaluation's end ends it; a log line in the middle of it does not.
        await shows("evaluated val", Evaluation(
            step=100, split="val", loss=0.5, accuracy=0.8, classes=["a", "b"],
            per_class_accuracy=[0.8, 0.8], confusion=[[4, 1], [1, 4]],
        ), pane=log)  # fmt: skip
        assert "● RUNNING  epoch 1/3" in header()
        await shows("● RUNNING · saving best.pt", Heartbeat(step=100, phase="saving best.pt"))
        await shows("a note", LogMessage(level="info", message="a note"), pane=log)
        assert "● RUNNING · saving best.pt" in header()
        window = next(e for e in events if isinstance(e, StepMetrics) and e.step == 100)
        step = dataclasses.replace(window, step=110, epoch=1, epoch_step=10, time=time.time())
        await shows("● RUNNING  epoch 2/3  step 110/300", step)
        # A phase not known here (a newer cnntui's) as it is spelled; none while training.
        await shows("● RUNNING · warming up  epoch", Heartbeat(step=110, phase="warming up"))
        await shows("● RUNNING  epoch", Heartbeat(step=110, phase="training"))
        # Paused: the badge says so, not a phase as well.
        await shows("❚❚ PAUSED  epoch", StateChanged(state="paused", step=110, heartbeat_every=10))
        await shows("paused at step 110", pane=log)
        append(run_dir, Heartbeat(step=110, phase="paused"))
        assert await until(pilot, lambda: app.state.phase == "paused", timeout=10)
        await pilot.pause(0.1)
        assert header().splitlines()[1].startswith("❚❚ PAUSED  epoch 2/3  step 110/300  ")


async def test_a_narrow_header_keeps_the_phase_in_a_shorter_form(tmp_path: Path) -> None:
    events = dated(scripted_events(finish=False, upto_step=100), time.time())
    beat = Heartbeat(step=100, phase="evaluating val", time=time.time())
    run_dir = record(tmp_path / "run", [*events, beat])
    app = Dashboard(FileSource(run_dir, interval=0.02), watch_path=run_dir, poll_interval=0.05)
    async with app.run_test(size=(40, 12)) as pilot:
        assert await until(pilot, lambda: "RUNNING ·" in pane_text(app, "#header"), timeout=10)
        assert pane_text(app, "#header").splitlines()[1] == "● RUNNING · evaluating  epoch 1/3"


async def test_a_live_header_says_how_long_a_phase_has_lasted_by_the_second() -> None:
    """A run stuck in a phase (a deadlocked evaluation beats on: its heartbeats prove the
    process, not progress) looked the same at one minute as at one second."""
    events = scripted_events(finish=False, upto_step=100)
    beat = Heartbeat(step=100, phase="evaluating test", time=events[-1].time + 1.0)
    trainer = FakeTrainer([*events, beat], hold_after=len(events) + 1)
    app = live_app(trainer)
    now = [1000.0]
    app.clock = lambda: now[0]  # the local clock, stopped: the run's goes on with it alone
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.phase == "evaluating test")
        await pilot.pause(0.2)
        said = "● RUNNING · evaluating the test set  epoch 1/3  step 100/300"
        assert said in pane_text(app, "#header")  # begun: no time yet
        now[0] += 3.0
        await pilot.pause(0.2)
        assert said in pane_text(app, "#header")  # a few seconds: not worth saying
        now[0] += 62.0
        said = "● RUNNING · evaluating the test set (1:05)  epoch 1/3  step 100/300"
        assert await until(pilot, lambda: said in pane_text(app, "#header"), timeout=5)
        assert "elapsed 1:11" in pane_text(app, "#header")  # the same clock: 0:06 + 1:05


async def test_watch_times_a_phase_by_its_heartbeats(tmp_path: Path) -> None:
    """`watch`, on a live run or its log: the phase's time is the heartbeats' (written every
    10 s through it), as the header's elapsed time is the latest event's."""
    events = scripted_events(finish=False, upto_step=100)
    running = StateChanged(state="running", step=100, heartbeat_every=10.0, time=events[-1].time)
    beats = [
        Heartbeat(step=100, phase="evaluating test", time=events[-1].time + 1.0 + seconds)
        for seconds in (0.0, 10.0, 20.0, 30.0)
    ]
    logged = dated([*events, running, *beats], time.time())
    run_dir = record(tmp_path / "run", logged)
    app = Dashboard(FileSource(run_dir, interval=0.02), watch_path=run_dir, poll_interval=0.05)
    async with app.run_test(size=(100, 24)) as pilot:
        assert await until(pilot, lambda: "RUNNING ·" in pane_text(app, "#header"), timeout=10)
        header = pane_text(app, "#header").splitlines()[1]
        assert header.startswith("● RUNNING · evaluating the test set (0:30)  epoch 1/3"), header
        assert "elapsed 0:36" in header
        next_beat = logged[-1].time + 10.0  # a live run's next, 10 s on
        append(run_dir, Heartbeat(step=100, phase="evaluating test", time=next_beat))
        said = "evaluating the test set (0:40)"
        assert await until(pilot, lambda: said in pane_text(app, "#header"), timeout=10)


async def test_a_narrow_header_keeps_a_phases_time_before_its_long_name(tmp_path: Path) -> None:
    events = scripted_events(finish=False, upto_step=100)
    beats = [
        Heartbeat(step=100, phase="evaluating val", time=events[-1].time + seconds)
        for seconds in (1.0, 11.0)
    ]
    run_dir = record(tmp_path / "run", dated([*events, *beats], time.time()))
    app = Dashboard(FileSource(run_dir, interval=0.02), watch_path=run_dir, poll_interval=0.05)
    async with app.run_test(size=(48, 12)) as pilot:
        assert await until(pilot, lambda: "RUNNING ·" in pane_text(app, "#header"), timeout=10)
        header = pane_text(app, "#header").splitlines()[1]
        assert header == "● RUNNING · evaluating (0:10)  epoch 1/3", header


async def test_a_max_steps_run_is_done_at_its_max_steps(tiny_config) -> None:
    """A `--max-steps 3` run of 2 epochs x 16 steps finished at 'step 3/32' with a progress bar
    at 9%: the header counted to the end of the epochs it was never going to train."""
    config = dataclasses.replace(tiny_config, max_steps=3)
    assert Trainer(config).run() == 0
    run_dir = Path(config.run_dir)
    app = Dashboard(FileSource(run_dir, interval=0.02), watch_path=run_dir, poll_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: "FINISHED" in pane_text(app, "#header"), timeout=10)
        header = pane_text(app, "#header")
        assert "step 3/3 " in header and "100%" in header, header
