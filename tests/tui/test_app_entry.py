"""The entry points and the terminal's edge cases: run_dashboard, SIGHUP, NO_COLOR."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest
from conftest import live_app, pane_text, replay_app
from scripted_run import FakeTrainer, TrickleSource, scripted_events, until

from cnntui.tui import app as app_module
from cnntui.tui import signals
from cnntui.tui.dashboard import Dashboard


def _headless(monkeypatch: pytest.MonkeyPatch, autopilot) -> None:
    """Make Dashboard.run headless at 120x40 and drive it with `autopilot`."""
    original = app_module.Dashboard.run

    def run_headless(self, **kwargs):
        return original(self, headless=True, size=(120, 40), auto_pilot=autopilot)

    monkeypatch.setattr(app_module.Dashboard, "run", run_headless)


def test_run_dashboard_quit_mid_training_stops_the_trainer_and_returns_130(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = scripted_events(finish=False, upto_step=100)
    trainer = FakeTrainer(events, hold_after=len(events))

    async def quit_and_confirm(pilot) -> None:
        assert await until(pilot, lambda: pilot.app.state.step == 100)
        await pilot.press("q", "y")

    _headless(monkeypatch, quit_and_confirm)
    assert app_module.run_dashboard(trainer) == 130
    assert trainer.calls == ["request_stop"]
    assert trainer.state == "finished"
    assert trainer.run_thread is not None and not trainer.run_thread.is_alive()


def test_run_dashboard_exit_on_finish_returns_the_run_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trainer = FakeTrainer(scripted_events(), exit_code=0)

    async def just_watch(pilot) -> None:
        pass

    _headless(monkeypatch, just_watch)
    assert app_module.run_dashboard(trainer, exit_on_finish=True) == 0
    assert trainer.calls == []


def test_run_dashboard_hands_the_gil_back_quickly_while_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    trainer = FakeTrainer(scripted_events(), exit_code=0)
    during = []

    async def note_the_interval(pilot) -> None:
        during.append(sys.getswitchinterval())

    before = sys.getswitchinterval()
    _headless(monkeypatch, note_the_interval)
    assert app_module.run_dashboard(trainer, exit_on_finish=True) == 0
    assert during == [pytest.approx(app_module.GIL_SWITCH_INTERVAL)] and during[0] < before
    assert sys.getswitchinterval() == pytest.approx(before)  # restored for the rest of the process


async def test_in_idle_draw_phases_the_dashboard_leaves_events_waiting() -> None:
    """bench/draw_cost.py's switch: odd wall-clock slices draw nothing, even ones catch up."""
    # Slices of 10^9 s: we are in slice 1 (2001 to 2033), an idle one.
    app = Dashboard(
        TrickleSource(scripted_events(), per_drain=5),
        poll_interval=0.02,
        ui_cpu_budget=1.0,  # ticks at the base rate: what is tested is whether they drain
        draw_phase_seconds=1e9,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)  # some 25 ticks
        assert app.state.step <= 40  # the drain at mount (5 events), and none of the ticks since
        app.draw_phase_seconds = None  # drawing from now on
        assert await until(pilot, lambda: app.state.status == "finished")


def test_watch_dashboard_replays_and_quits(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from cnntui.runlog import RunLogWriter

    writer = RunLogWriter(tmp_path / "run")
    for event in scripted_events():
        writer(event)
    writer.close()
    seen = {}

    async def look_and_quit(pilot) -> None:
        assert await until(pilot, lambda: pilot.app.state.status == "finished")
        seen["header"] = pane_text(pilot.app, "#header")
        await pilot.press("q")

    _headless(monkeypatch, look_and_quit)
    assert app_module.watch_dashboard(tmp_path / "run") == 0
    assert "FINISHED" in seen["header"]


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX only")
async def test_sighup_stops_the_trainer_and_exits(
    held_trainer: FakeTrainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real ones would point pytest's own streams at /dev/null and arm a process exit.
    calls = []
    monkeypatch.setattr(signals, "detach_from_terminal", lambda: calls.append("detach"))
    monkeypatch.setattr(signals, "exit_after", lambda done, code: calls.append(("exit", code)))
    app = live_app(held_trainer, handle_signals=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        os.kill(os.getpid(), signal.SIGHUP)  # the SSH session went away
        assert await until(pilot, lambda: not app.is_running)
    assert calls == ["detach", ("exit", 130)]
    assert held_trainer.stop_reasons == ["SIGHUP"]  # what summary.json's message will say
    assert app.return_code == 130
    assert app.trainer_done.is_set()
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # handlers leave with the app
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


async def test_sigterm_stops_the_trainer_like_q(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer, handle_signals=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        os.kill(os.getpid(), signal.SIGTERM)
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 130 and held_trainer.stop_reasons == ["SIGTERM"]


def test_exit_watchdog_waits_for_the_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    exits = []
    monkeypatch.setattr(signals.os, "_exit", exits.append)
    done = threading.Event()
    signals.exit_after(done, 130, grace=0.01)
    time.sleep(0.1)
    assert exits == []  # the trainer is still saving
    done.set()
    deadline = time.monotonic() + 60  # a loaded runner may not schedule the daemon for seconds
    while not exits and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exits == [130]


async def test_no_color_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = replay_app(scripted_events())
    assert app.no_color
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        # State and problems are spelled out, not only coloured.
        assert "✔ FINISHED" in pane_text(app, "#header")
        svg = app.export_screenshot()
    # Every colour left is a grey, but for the screenshot's window chrome.
    chrome = {"febc2e", "28c840", "ff5f57", "c5c8c6"}
    colours = set(re.findall(r"#([0-9a-f]{6})", svg)) - chrome
    assert colours and all(c[0:2] == c[2:4] == c[4:6] for c in colours)


async def test_the_dashboard_works_at_80x24_without_a_mouse(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        for key in ("2", "tab", "down", "3", "4", "1", "l", "c", "c"):
            await pilot.press(key)
        await pilot.press("q", "y")
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 130
