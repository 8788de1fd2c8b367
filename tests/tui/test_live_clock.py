"""The header's elapsed time in a live run: the run's clock, going on between its events."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest
from conftest import live_app, pane_text, replay_app
from scripted_run import FakeTrainer, scripted_events, until

from cnntui.engine import loop
from cnntui.engine.device_stats import DeviceMonitor
from cnntui.engine.events import Event, RunFinished, StepMetrics
from cnntui.engine.trainer import Trainer
from cnntui.tui.live_clock import LiveClock


def test_the_clock_goes_on_from_the_latest_event() -> None:
    clock = LiveClock()
    assert clock.read(now=10.0) is None  # no event yet: the state's time
    clock.arrived(run_time=22.0, now=10.0)
    assert clock.read(now=10.0) == 22.0
    assert clock.read(now=40.0) == 52.0  # paused: no step, and the clock goes on


def test_the_clock_never_goes_back_within_a_run() -> None:
    """An event that waited less for its drain than the one before projects a time a little
    behind what was shown: the header holds until the clock passes it."""
    clock = LiveClock()
    clock.arrived(run_time=10.0, now=100.0)
    assert clock.read(now=101.4) == pytest.approx(11.4)
    clock.arrived(run_time=11.1, now=101.4)  # written at 11.1, arrived 0.3 s later
    assert clock.read(now=101.5) == pytest.approx(11.4)
    assert clock.read(now=102.0) == pytest.approx(11.7)


def test_the_clock_starts_again_with_a_new_run() -> None:
    clock = LiveClock()
    clock.arrived(run_time=300.0, now=100.0)
    assert clock.read(now=101.0) == 301.0
    clock.arrived(run_time=0.0, now=102.0)  # a resumed run's clock counts from its resume
    assert clock.read(now=103.0) == 1.0


def header_elapsed(app) -> float:
    minutes, seconds = re.search(r"elapsed (\d+):(\d\d)", pane_text(app, "#header")).groups()
    return int(minutes) * 60 + int(seconds)


async def test_the_header_ticks_through_a_pause_and_agrees_with_the_log() -> None:
    """The header stood at the last step's 0:05 through a pause, below the time of the lines
    logged meanwhile, and jumped by the whole pause at the next step."""
    events = scripted_events(finish=False, upto_step=100)
    trainer = FakeTrainer(events, hold_after=len(events))
    app = live_app(trainer)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.step == 100)
        assert header_elapsed(app) == 5
        await pilot.press("p")
        assert await until(pilot, lambda: app.state.status == "paused")
        assert await until(pilot, lambda: header_elapsed(app) >= 7, timeout=5)
        assert "PAUSED" in pane_text(app, "#header")
        await pilot.press("p")
        assert await until(pilot, lambda: app.state.log[-1].text == "running at step 100")
        await pilot.pause(0.1)
        resumed = app.state.log[-1].elapsed
        assert resumed >= 7
        assert header_elapsed(app) >= round(resumed)  # never behind the log


async def test_no_clock_ticks_once_a_run_has_ended() -> None:
    """A replayed run's time is its own, and so is a live run's once it has finished."""
    await assert_time_stands(replay_app(scripted_events()))
    await assert_time_stands(live_app(FakeTrainer(scripted_events())))


async def assert_time_stands(app) -> None:
    now = [1000.0]
    app.clock = lambda: now[0]
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.status == "finished")
        await pilot.pause(0.1)
        assert "elapsed 0:15" in pane_text(app, "#header")
        now[0] += 100
        await pilot.pause(0.7)  # a tick or more
        assert "elapsed 0:15" in pane_text(app, "#header")


async def test_the_header_is_redrawn_only_when_a_shown_second_changes(held_trainer) -> None:
    """The live clock, the wait for a run and watch's silence are timed to a fraction of a
    second, and shown by the second: a tick redraws the header only when that second moves."""
    app = live_app(held_trainer)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.step == 100)
        now = [1000.0]
        app.clock = lambda: now[0]  # between the awaits below, no tick runs
        app._live_clock = LiveClock()
        app._live_clock.arrived(run_time=10.2, now=1000.0)
        assert app._tick_clock() == {"header"}  # 0:10, from 0:05
        now[0] += 0.2
        assert app._tick_clock() == set()  # 10.4: still 0:10
        assert app._header.elapsed == pytest.approx(10.2)
        now[0] += 0.2
        assert app._tick_clock() == {"header"}  # 10.6: 0:11
        assert app._header.elapsed == pytest.approx(10.6)
        app.state.status = "finished"  # no clock of its own once ended: the state's time
        assert app._tick_clock() == {"header"} and app._header.elapsed is None
        assert app._tick_clock() == set()


class SlowToStartMonitor(DeviceMonitor):
    """NVML's start-up on a GPU box, which comes before the run's clock starts."""

    def __init__(self, *args, **kwargs) -> None:
        time.sleep(2.0)
        super().__init__(*args, **kwargs)


async def test_a_finished_runs_time_is_its_clock_at_its_end(tiny_config, monkeypatch) -> None:
    """A real run whose training loop took 2 s to build: the header's elapsed time jumped
    forward by those 2 s at the end, the run's `duration` counting them and its clock not."""
    monkeypatch.setattr(loop, "DeviceMonitor", SlowToStartMonitor)
    events: list[Event] = []
    trainer = Trainer(dataclasses.replace(tiny_config, epochs=1), subscribers=[events.append])
    trainer.setup()  # as `cnntui run` does before the dashboard opens
    app = live_app(trainer)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: app.state.status == "finished", timeout=120)
        await pilot.pause(0.1)
        shown = header_elapsed(app)
    last_step = [e for e in events if isinstance(e, StepMetrics)][-1]
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    run_clock = last_step.elapsed + finished.time - last_step.time
    assert finished.duration - run_clock >= 1.9  # the loop's 2 s before the clock started
    assert shown == round(run_clock)
