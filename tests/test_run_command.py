"""How `cnntui run` sets a dashboard run up: in a thread that ends before training starts."""

from __future__ import annotations

import threading

import pytest

from cnntui.errors import UsageError
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
