"""A run stopped before it started leaves nothing behind; one that ran says how it ended;
one that would overwrite another is refused."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from cnntui.engine.events import RunFinished
from cnntui.engine.trainer import Trainer
from cnntui.errors import UsageError
from cnntui.run_command import set_up_off_the_main_thread
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
    outcome(RunFinished(status="interrupted", exit_code=130, step=1177, epoch=4, duration=34.1))
    assert outcome.line() == "cnntui: interrupted after 1,177 steps in 34.1s"
    resumed = RunFinished(
        status="finished", exit_code=0, step=1200, epoch=5, duration=2.0, start_step=1177
    )
    outcome(resumed)
    assert outcome.line() == "cnntui: finished at step 1,200, 23 steps in 2.0s"


def test_a_run_dir_from_the_api_that_holds_a_run_is_refused_and_left_alone(tiny_config) -> None:
    first = Trainer(dataclasses.replace(tiny_config, epochs=1, max_steps=2))
    assert first.run() == 0
    run_dir = first.run_dir
    before = {path.name: path.read_bytes() for path in run_dir.iterdir()}
    second = Trainer(tiny_config)  # the same run_dir, not a resume
    with pytest.raises(UsageError, match="already holds a run"):
        second.setup()
    assert {path.name: path.read_bytes() for path in run_dir.iterdir()} == before


class SlowSetup:
    """A trainer whose set-up takes a second, as torch's first import and the data take longer."""

    def __init__(self) -> None:
        self.finished = threading.Event()

    def setup(self) -> None:
        time.sleep(1.0)
        self.finished.set()


def interrupt_main_thread_after(seconds: float) -> threading.Timer:
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_during_the_set_up_waits_for_the_set_up_to_end() -> None:
    """Otherwise the interpreter is torn down under a setup thread inside torch, which aborts the
    process (exit 134): on Python 3.11 an interrupted Thread.join marks a running thread as
    stopped, and joining it again returned at once."""
    trainer = SlowSetup()
    interrupt_main_thread_after(0.2)
    with pytest.raises(KeyboardInterrupt):
        set_up_off_the_main_thread(trainer)
    assert trainer.finished.is_set()


def test_a_second_ctrl_c_during_the_set_up_leaves_at_once_with_130() -> None:
    script = textwrap.dedent(
        """
        import os, signal, sys, threading, time
        from cnntui.run_command import set_up_off_the_main_thread

        class Slow:
            def setup(self):
                time.sleep(30)

        main = threading.main_thread().ident
        for delay in (0.3, 0.6):
            threading.Timer(delay, signal.pthread_kill, (main, signal.SIGINT)).start()
        set_up_off_the_main_thread(Slow())
        """
    )
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 130, out.stderr
    assert "interrupted during set-up; nothing was saved" in out.stderr
    assert time.monotonic() - started < 20  # did not wait for the 30 s set-up


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_termination_during_the_set_up_ends_as_ctrl_c_does(signum) -> None:
    """Before the trainer's own handlers exist, a job scheduler's SIGTERM or a closed SSH
    session's SIGHUP used to kill the process without a word (exit 143 or 129)."""
    script = textwrap.dedent(
        """
        import time
        from cnntui.cli import app
        from cnntui.engine.trainer import Trainer

        def slow_setup(self):
            print("setting up", flush=True)
            time.sleep(30)

        Trainer.setup = slow_setup
        app(["run", "lenet", "--headless", "--dataset", "synthetic:1x28x28:10:train=64:test=64"])
        """
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "setting up\n"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted before training started; nothing was saved" in stderr
    assert time.monotonic() - started < 25  # did not wait for the 30 s set-up
