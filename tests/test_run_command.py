"""How `cnntui run` sets a dashboard run up: in a thread that ends before training starts."""

from __future__ import annotations

import threading
import time

import pytest

from cnntui.errors import CnntuiError, UsageError
from cnntui.run_command import set_up_off_the_main_thread


class RecordingTrainer:
    def __init__(self, failure: BaseException | None = None) -> None:
        self.failure = failure
        self.setup_thread: threading.Thread | None = None

    def setup(self) -> None:
        self.setup_thread = threading.current_thread()
        if self.failure is not None:
            raise self.failure


def test_the_setup_runs_in_a_thread_that_has_ended_when_it_returns() -> None:
    trainer = RecordingTrainer()
    set_up_off_the_main_thread(trainer)
    # Not this thread (its OpenMP team would outlive the setup), and gone (so is its team).
    assert trainer.setup_thread is not threading.current_thread()
    assert trainer.setup_thread is not None and not trainer.setup_thread.is_alive()


def test_a_setup_error_reaches_the_caller_before_anything_opens() -> None:
    trainer = RecordingTrainer(UsageError("data set 'nope' not found"))
    with pytest.raises(UsageError, match="nope"):
        set_up_off_the_main_thread(trainer)


class SlowTrainer:
    def __init__(self) -> None:
        self.began = threading.Event()
        self.ended = threading.Event()

    def setup(self) -> None:
        self.began.set()
        time.sleep(0.3)  # a caller that did not wait for the set-up has gone on by now
        self.ended.set()


def interrupt_the_start(monkeypatch, before_the_interrupt) -> None:
    """Ctrl-C inside the set-up thread's start(): `before_the_interrupt(thread, start)` runs
    first, and may start the thread or not, as a signal may land on either side of it."""
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name != "cnntui-setup":
            return real_start(self)
        before_the_interrupt(self, real_start)
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start)


def test_ctrl_c_in_the_start_of_a_thread_that_began_the_set_up_waits_for_it(monkeypatch) -> None:
    trainer = SlowTrainer()

    def start_and_wait_for_the_setup(thread, real_start) -> None:
        real_start(thread)
        assert trainer.began.wait(120), "the set-up thread never called setup()"

    interrupt_the_start(monkeypatch, start_and_wait_for_the_setup)
    with pytest.raises(KeyboardInterrupt):
        set_up_off_the_main_thread(trainer)
    assert trainer.ended.is_set()  # not torn down under a set-up still running


def test_ctrl_c_before_the_thread_began_the_set_up_leaves_it_undone(monkeypatch) -> None:
    trainer = SlowTrainer()
    late: list[threading.Thread] = []
    interrupt_the_start(monkeypatch, lambda thread, real_start: late.append(thread))
    with pytest.raises(KeyboardInterrupt):
        set_up_off_the_main_thread(trainer)
    # The thread begins only now, after the caller gave up on it: it must not set up a run
    # that nothing waits for.
    monkeypatch.undo()
    late[0].start()
    late[0].join(120)
    assert not late[0].is_alive(), "the late set-up thread did not end within 120 s"
    assert not trainer.began.is_set()


@pytest.mark.parametrize(
    ("target", "preset", "named"),
    [("lenet", None, "'lenet'"), (None, "alexnet", "--preset alexnet")],
)
def test_a_model_or_preset_given_with_resume_is_named_in_the_refusal(
    tmp_path, target, preset, named
) -> None:
    from cnntui.run_command import resolve_config

    with pytest.raises(CnntuiError, match=f"its own model and config; drop {named}$") as info:
        resolve_config(target, preset, {}, tmp_path)
    assert info.value.exit_code == 2
