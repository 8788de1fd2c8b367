"""events.jsonl after a kill -9 mid-line: readers skip the torn half, and a resumed run's
events after it are all read."""

from __future__ import annotations

from cnntui.engine.events import RunStarted, StateChanged
from cnntui.runlog import EVENTS_FILE, RunLogWriter, event_to_json, read_events


def started() -> RunStarted:
    return RunStarted(
        run_name="r", run_dir="r", model="lenet", dataset="fmnist", device="cpu",
        device_name="x86_64", epochs=2, steps_per_epoch=10, batch_size=256, num_params=61_706,
        classes=[str(i) for i in range(10)], config={}, start_step=5, time=2.0,
    )  # fmt: skip


def test_a_resumed_run_after_a_torn_line_keeps_its_first_event(tmp_path) -> None:
    events = tmp_path / EVENTS_FILE
    whole = event_to_json(StateChanged(state="running", step=0, time=1.0))
    events.write_text(whole + "\n" + '{"event":"step","time":1.5,"ste')  # killed mid-write
    assert [e.kind for e in read_events(tmp_path)] == ["state"]
    log = RunLogWriter(tmp_path)  # the resumed run appends to the same file
    log(started())
    log(StateChanged(state="running", step=5, time=3.0))
    log.close()
    # The resumed run_started was glued to the torn half and lost before.
    assert [e.kind for e in read_events(tmp_path)] == ["state", "run_started", "state"]


def test_an_intact_log_gets_no_blank_line(tmp_path) -> None:
    whole = event_to_json(StateChanged(state="running", step=0, time=1.0))
    (tmp_path / EVENTS_FILE).write_text(whole + "\n")
    RunLogWriter(tmp_path).close()
    RunLogWriter(tmp_path / "new").close()
    assert (tmp_path / EVENTS_FILE).read_text() == whole + "\n"
    assert (tmp_path / "new" / EVENTS_FILE).read_text() == ""
