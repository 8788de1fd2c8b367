"""What the terminal keeps once the dashboard of a `run --nproc` launch has closed: the line a
single process's dashboard leaves, read from rank 0's events of this launch."""

from __future__ import annotations

import pytest

from cnntui.engine.events import RunFinished, RunStarted
from cnntui.launch import outcome_line
from cnntui.runlog import event_to_json

FIELDS = dict(model="lenet", dataset="fmnist", device="cpu", device_name="x86_64", epochs=2)
FIELDS.update(steps_per_epoch=10, batch_size=8, num_params=1, classes=[], config={})


@pytest.fixture(autouse=True)
def in_a_folder_with_the_run(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The line names the run directory only while it is there (outcome.py), as runs/r here."""
    (tmp_path / "runs" / "r").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)


def test_the_line_is_this_launchs_ending_not_an_earlier_ones(tmp_path) -> None:
    """The terminal showed nothing of the run once the launcher's dashboard closed: no result,
    no exit status, no run directory."""
    events = tmp_path / "events.jsonl"
    first = [
        RunStarted(run_name="r", run_dir="runs/r", **FIELDS),
        RunFinished(status="interrupted", exit_code=130, step=7, epoch=0, duration=1.5),
    ]
    events.write_text("".join(event_to_json(e) + "\n" for e in first))
    assert (
        outcome_line(events, 0)
        == "cnntui: interrupted after 7 steps in 1.5s · run directory: runs/r"
    )
    # A resume from there that stopped before its first event ended nothing of its own.
    resumed_from = events.stat().st_size
    assert outcome_line(events, resumed_from) is None
    resumed = [
        RunStarted(run_name="r", run_dir="runs/r", start_step=7, **FIELDS),
        RunFinished(status="finished", exit_code=0, step=20, epoch=2, duration=2.0, start_step=7),
    ]
    with events.open("a") as file:
        file.write("".join(event_to_json(e) + "\n" for e in resumed))
    assert outcome_line(events, resumed_from) == (
        "cnntui: finished at step 20, 13 steps in 2.0s · run directory: runs/r"
    )
    assert outcome_line(tmp_path / "none.jsonl", 0) is None  # rank 0 never wrote it


def test_a_run_that_started_but_recorded_no_end_is_not_said_to_have_saved_nothing(
    tmp_path,
) -> None:
    """Rank 0 killed by the launcher past the shutdown timeout: it trained, its checkpoints may
    be there, and the terminal said "stopped before training started; nothing was saved"."""
    events = tmp_path / "events.jsonl"
    events.write_text(event_to_json(RunStarted(run_name="r", run_dir="runs/r", **FIELDS)) + "\n")
    assert outcome_line(events, 0) == (
        "cnntui: the run stopped without recording how it ended · run directory: runs/r"
    )
