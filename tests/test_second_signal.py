"""A second Ctrl-C or SIGTERM stops a headless run at once, without last.pt, and the run still
ends where scripts read it: the last event and summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnntui.engine import epoch_end
from cnntui.engine.events import Event, RunFinished, StepMetrics
from cnntui.engine.trainer import Trainer
from cnntui.runlog import read_events


def assert_stopped_at_once(run_dir: Path, events: list[Event]) -> None:
    """summary.json, the last event on --json's stdout and in events.jsonl: all say so."""
    message = "SIGINT twice (stopped at once: last.pt not saved)"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["exit_code"], summary["message"]) == (
        "interrupted",
        130,
        message,
    )
    for end in (events[-1], read_events(run_dir)[-1]):
        assert isinstance(end, RunFinished)
        assert (end.status, end.exit_code, end.message) == ("interrupted", 130, message)


def test_a_run_stopped_at_once_still_writes_its_end_but_not_last_pt(tiny_config) -> None:
    events: list[Event] = []
    insisted = False

    def second_ctrl_c(event: Event) -> None:
        nonlocal insisted
        events.append(event)
        if isinstance(event, StepMetrics) and not insisted:
            insisted = True
            trainer.request_stop(reason="SIGINT")  # the first: finish the batch, save
            # The second, raised where the main thread happens to be (stop_on_signals).
            raise KeyboardInterrupt("SIGINT")

    trainer = Trainer(tiny_config, subscribers=[second_ctrl_c])
    with pytest.raises(KeyboardInterrupt):  # a caller of the API still gets its Ctrl-C
        trainer.run()
    run_dir = Path(tiny_config.run_dir)
    assert not (run_dir / "last.pt").exists()
    assert_stopped_at_once(run_dir, events)


def test_a_second_signal_while_last_pt_is_saved_still_writes_the_end(
    tiny_config, monkeypatch
) -> None:
    """The first signal stops the run to save last.pt, which takes seconds for a big model:
    the likeliest moment for a second. It left as the one above did before 5fe1ea3, without
    summary.json or a last event: the save is in the run's end, not in its loop."""
    events: list[Event] = []

    def first_ctrl_c(event: Event) -> None:
        events.append(event)
        if isinstance(event, StepMetrics):
            trainer.request_stop(reason="SIGINT")

    def second_ctrl_c(*_args, **_kwargs) -> None:
        raise KeyboardInterrupt("SIGINT")  # mid-write: save_checkpoint leaves no file

    monkeypatch.setattr(epoch_end, "save_checkpoint", second_ctrl_c)
    trainer = Trainer(tiny_config, subscribers=[first_ctrl_c])
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    run_dir = Path(tiny_config.run_dir)
    assert_stopped_at_once(run_dir, events)
