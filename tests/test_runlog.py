"""The run log: events survive a JSON round trip, readers tolerate a half-written line, and a
new run gets a directory of its own."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from cnntui.engine.events import (
    EpochSummary,
    LayerHealth,
    LayerStat,
    RunFinished,
    StepMetrics,
    event_from_dict,
)
from cnntui.errors import UsageError
from cnntui.run_dirs import check_new_run_dir, new_run_dir
from cnntui.runlog import (
    EVENTS_FILE,
    LAUNCH_LOG,
    EventReader,
    RunLogWriter,
    event_to_json,
    hold_run_dir,
    newest_run,
    read_events,
)


def step(i: int, loss: float = 0.5) -> StepMetrics:
    return StepMetrics(
        step=i,
        epoch=0,
        epoch_step=i,
        loss=loss,
        accuracy=0.5,
        lr=0.1,
        examples_per_sec=1000.0,
        steps_per_sec=4.0,
        data_wait=0.1,
        examples=i * 256,
        elapsed=float(i),
        losses=[loss],
        time=1.0,
    )


def test_every_event_round_trips_through_json() -> None:
    events = [
        step(3),
        LayerHealth(step=3, layers=[LayerStat("0", grad_norm=1.0, dead_fraction=0.25)], time=2.0),
        EpochSummary(epoch=0, step=3, train_loss=0.4, train_accuracy=0.8, time=3.0),
        RunFinished(status="finished", exit_code=0, step=3, epoch=1, duration=1.0, time=4.0),
    ]
    for event in events:
        assert event_from_dict(json.loads(event_to_json(event))) == event


def test_nan_is_written_as_strict_json() -> None:
    line = event_to_json(step(1, loss=float("nan")))
    assert json.loads(line)["loss"] == "nan"  # strict JSON has no NaN literal


def test_reader_waits_for_the_rest_of_a_partial_line(tmp_path) -> None:
    writer = RunLogWriter(tmp_path)
    writer(step(1))
    reader = EventReader(tmp_path / "events.jsonl")
    assert [e.step for e in reader.poll()] == [1]
    full = event_to_json(step(2)) + "\n"
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write(full[:20])  # the writer is mid-line
    assert reader.poll() == []
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write(full[20:])
    assert [e.step for e in reader.poll()] == [2]
    writer.close()


def test_reader_skips_damaged_lines(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("not json\n" + event_to_json(step(5)) + "\n" + '{"event": "future"}\n')
    assert [e.step for e in read_events(tmp_path)] == [5]


def test_newest_run_picks_the_latest_events_file(tmp_path) -> None:
    import os

    for name, mtime in (("a", 100), ("b", 300), ("c", 200)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "events.jsonl").write_text("")
        os.utime(tmp_path / name / "events.jsonl", (mtime, mtime))
    (tmp_path / "not-a-run").mkdir()
    assert newest_run(tmp_path) == tmp_path / "b"


def test_a_run_dir_holding_other_files_is_refused(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(
        UsageError, match=r"is not empty \(it holds notes.txt\); pick a new or empty"
    ):
        check_new_run_dir(tmp_path)


def test_the_launchers_log_is_the_one_file_a_new_run_dir_may_hold(tmp_path) -> None:
    (tmp_path / LAUNCH_LOG).write_text("rank 0 starting")  # `run --nproc` writes it first
    check_new_run_dir(tmp_path)
    check_new_run_dir(tmp_path / "not-yet")


def test_only_a_run_that_can_go_on_is_offered_resume(tmp_path) -> None:
    (tmp_path / "events.jsonl").write_text("")  # a diverged run: no last.pt
    with pytest.raises(UsageError) as refused:
        check_new_run_dir(tmp_path)
    assert "already holds a run (events.jsonl)" in str(refused.value)
    assert "--resume" not in str(refused.value)


def test_a_directory_under_a_file_is_refused_before_set_up(tmp_path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(UsageError, match=r"^--run-dir: cannot create .*afile is a file"):
        check_new_run_dir(tmp_path / "afile" / "run")
    with pytest.raises(UsageError, match=r"^--runs-root .*: cannot create"):
        new_run_dir(tmp_path / "afile", "lenet", "fmnist")


def test_two_runs_started_in_the_same_second_get_two_directories(tmp_path, monkeypatch) -> None:
    """Another process can make the name between a look for it and the mkdir; each run still
    gets a directory of its own (a shared one refused the second run as 'in use')."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return cls(2026, 11, 24, 6, 4, 20)

    monkeypatch.setattr("cnntui.run_dirs.datetime", Frozen)
    first = new_run_dir(tmp_path, "lenet", "fmnist")
    # The second run looks before the first one's mkdir: it sees no directory of that name.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    second = new_run_dir(tmp_path, "lenet", "fmnist")
    assert first.name == "20261124-060420-lenet-fmnist"
    assert second.name == "20261124-060420-lenet-fmnist-2"


def test_a_run_log_that_cannot_be_opened_is_a_write_error(tmp_path) -> None:
    """A run directory that became unwritable after it was checked raised OSError's traceback
    from the open; a WriteError is said in one line, naming the file."""
    from cnntui.errors import WriteError
    from cnntui.runlog import RunLogWriter

    (tmp_path / "run").write_text("")  # no directory can be made there
    with pytest.raises(WriteError, match=r"^not a directory writing .*/run/sub/events\.jsonl$"):
        RunLogWriter(tmp_path / "run" / "sub")


def test_a_run_named_by_paths_takes_their_last_parts(tmp_path) -> None:
    """A model file or folder deep in the tree named the directory by its whole path, which
    past 255 bytes could not be made ('File name too long', after the set-up)."""
    deep = "/".join(["a-rather-long-folder-name-for-a-project"] * 8)
    run = new_run_dir(tmp_path, f"/{deep}/net.py:make", f"folder:/{deep}/pets/")
    assert run.name.endswith("-net.py_make-folder_pets")
    run = new_run_dir(tmp_path, "é" * 200 + ".py:make", "fmnist")  # 2 bytes a letter
    assert len(run.name.encode()) <= 255 and run.name.endswith(".py_make-fmnist")


def test_run_folders_written_with_a_tilde_are_in_the_home_folder(
    tiny_config, tmp_path, monkeypatch
) -> None:
    """`runs_root = "~/runs"` in a preset (no shell to expand it) made a folder named `~` in
    the current one; data_dir, model files and folder data sets were expanded already."""
    import dataclasses

    from cnntui.engine.trainer import Trainer
    from cnntui.launch_plan import plan_run_dir

    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    trainer = Trainer(dataclasses.replace(tiny_config, run_dir=None, runs_root="~/runs"))
    assert trainer.setup().run_dir.parent == home / "runs"
    trainer.discard_unstarted()
    trainer = Trainer(dataclasses.replace(tiny_config, run_dir="~/mine"))
    assert trainer.setup().run_dir == home / "mine"
    trainer.discard_unstarted()
    assert plan_run_dir(dataclasses.replace(tiny_config, run_dir="~/r2"), None, {})[0] == (
        home / "r2"
    )
    assert plan_run_dir(dataclasses.replace(tiny_config, run_dir=None, runs_root="~/rr"), None,
                        {})[0].parent == home / "rr"  # fmt: skip
    assert not (elsewhere / "~").exists()


def test_a_run_directory_in_use_says_what_to_do_for_a_new_run_too(tmp_path: Path) -> None:
    """Two runs started at once with one --run-dir: the second was told to 'then resume', which
    would have continued the other's run instead of starting its own."""
    events = tmp_path / EVENTS_FILE
    with open(events, "a") as first:
        hold_run_dir(first, tmp_path)
        with pytest.raises(UsageError) as refused, open(events, "a") as second:
            hold_run_dir(second, tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path} is in use: another cnntui process is still training")
    assert "to resume it, wait for it to end" in message
    assert message.endswith("for a new run, give another --run-dir")
