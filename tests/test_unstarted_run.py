"""A run stopped before it started leaves nothing behind; one that ran says how it ended;
one that would overwrite another is refused."""

from __future__ import annotations

import dataclasses
import inspect
import json
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
from cnntui.run_command import set_up_off_the_main_thread, wait_interruptibly
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


def setup_wait_line() -> int | None:
    """The line of `set_up_off_the_main_thread` at which the main thread waits for the set-up
    (in a wait_interruptibly called from there), or None while it is anywhere else: on its way
    in (still in thread.start()) or already out. Read from the main thread's frames, so that a
    test sends its Ctrl-C when the main thread is waiting, whatever the machine's speed."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    callee = None
    while frame is not None:
        if frame.f_code.co_name == "set_up_off_the_main_thread":
            waiting = callee is not None and callee.f_code.co_name == "wait_interruptibly"
            return frame.f_lineno if waiting else None
        callee, frame = frame, frame.f_back
    return None


def main_thread_is_in(function_name: str) -> bool:
    frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None and frame.f_code.co_name != function_name:
        frame = frame.f_back
    return frame is not None


class InterruptedSetup:
    """A set-up that Ctrl-C interrupts: it sends SIGINT once the main thread waits for it, and
    goes on for a while after that interrupt has been handled, as torch's import or the data
    would."""

    def __init__(self) -> None:
        self.handled = threading.Event()  # set by the test's SIGINT handler
        self.finished = threading.Event()

    def setup(self) -> None:
        deadline = time.monotonic() + 60
        while setup_wait_line() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        self.handled.wait(60)
        time.sleep(0.3)  # a caller that did not wait for the set-up has gone on by now
        self.finished.set()


def test_ctrl_c_during_the_set_up_waits_for_the_set_up_to_end() -> None:
    """Otherwise the interpreter is torn down under a setup thread inside torch, which aborts the
    process (exit 134): on Python 3.11 an interrupted Thread.join marks a running thread as
    stopped, and joining it again returned at once."""
    trainer = InterruptedSetup()

    def on_sigint(signum, frame):
        trainer.handled.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with pytest.raises(KeyboardInterrupt):
            set_up_off_the_main_thread(trainer)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert trainer.handled.is_set() and trainer.finished.is_set()


def test_a_ctrl_c_left_pending_still_interrupts_the_wait_for_the_set_up() -> None:
    """CPython can leave a SIGINT pending without waking the main thread from a lock's wait: it
    lands between the GIL's release and the futex (a second Ctrl-C during the set-up then did
    nothing, 1 run in 20 under load). A SIGINT sent to another thread does the same thing every
    time: its handler is pending for the main thread, whose wait nothing wakes."""
    never_set = threading.Event()
    giving_up = threading.Event()

    def send_to_this_thread() -> None:
        while not main_thread_is_in("wait_interruptibly"):
            time.sleep(0.005)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        if not giving_up.wait(30):
            never_set.set()  # an Event.wait() would sleep forever; end it, and fail below

    sender = threading.Thread(target=send_to_this_thread, daemon=True)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            wait_interruptibly(never_set)
    finally:
        giving_up.set()
        sender.join()
    assert not never_set.is_set()


def test_a_second_ctrl_c_during_the_set_up_leaves_at_once_with_130() -> None:
    # Each Ctrl-C comes once the main thread waits for the set-up, the second in the wait that
    # follows the first (another line): timers could send both before the main thread had
    # handled the first, and two pending SIGINTs are one.
    script = textwrap.dedent(
        """
        import signal, sys, threading, time
        from cnntui.run_command import set_up_off_the_main_thread

        handled = threading.Semaphore(0)

        def on_sigint(signum, frame):
            handled.release()
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, on_sigint)

        class Slow:
            def setup(self):
                lines = set()
                for _ in range(2):
                    while setup_wait_line() in lines | {None}:
                        time.sleep(0.005)
                    lines.add(setup_wait_line())
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                    handled.acquire()
                time.sleep(600)

        set_up_off_the_main_thread(Slow())
        """
    )
    helper = textwrap.dedent(inspect.getsource(setup_wait_line))
    process = subprocess.Popen(
        [sys.executable, "-c", helper + script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        _, stderr = process.communicate(timeout=120)  # not the 600 s set-up
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted during set-up; nothing was saved" in stderr.decode()


def stopped_in_the_set_up(output: str, signum: int) -> tuple[int, str, str]:
    """`cnntui run lenet OUTPUT` sent `signum` in a set-up that would take 600 s: its exit
    code, stdout and stderr."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from cnntui.cli import app
        from cnntui.engine.trainer import Trainer

        def slow_setup(self):
            print("setting up", file=sys.stderr, flush=True)
            time.sleep(600)

        Trainer.setup = slow_setup
        app(["run", "lenet", "{output}", "--dataset", "synthetic:1x28x28:10:train=64:test=64"])
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Bounded: a process that hangs before its first line is killed, which ends the read at EOF.
    watchdog = threading.Timer(300, process.kill)
    watchdog.start()
    try:
        # Torch's import comes first: on a loaded 2-core runner it alone can take half a minute,
        # so the time is counted from the signal, not from the start.
        assert process.stderr is not None and process.stderr.readline() == "setting up\n"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)  # did not wait for the 600 s set-up
    finally:
        watchdog.cancel()
        process.kill()
    return process.returncode, stdout, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_termination_during_the_set_up_ends_as_ctrl_c_does(signum) -> None:
    """Before the trainer's own handlers exist, a job scheduler's SIGTERM or a closed SSH
    session's SIGHUP used to kill the process without a word (exit 143 or 129)."""
    code, _, stderr = stopped_in_the_set_up("--headless", signum)
    assert code == 130, stderr
    assert "interrupted before training started; nothing was saved" in stderr


def test_a_json_run_stopped_during_the_set_up_still_ends_with_its_finished_line() -> None:
    """Every `--json` run's output ends with `finished` or `failed`: a SIGTERM in the set-up
    (a scheduler cancelling a queued job) left stdout empty."""
    code, stdout, stderr = stopped_in_the_set_up("--json", signal.SIGTERM)
    assert code == 130, stderr
    end = json.loads(stdout.splitlines()[-1])
    assert (end["event"], end["status"], end["exit_code"], end["step"]) == (
        "finished",
        "interrupted",
        130,
        0,
    )
    assert end["message"] == "interrupted before training started; nothing was saved"
