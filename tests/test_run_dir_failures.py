"""A run directory that cannot be written (a full disk, a deleted directory) fails the run
cleanly: exit 1, one `cnntui: error:` line naming the file and the cause, and every other file
(last.pt, summary.json) still attempted, none of those failures hiding the first."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from cnntui.engine import epoch_end, run_end
from cnntui.engine.checkpoint import load_checkpoint
from cnntui.engine.events import CheckpointSaved, Event, RunFailed, RunStarted, StepMetrics
from cnntui.engine.trainer import Trainer
from cnntui.errors import write_error
from cnntui.headless import PlainReporter
from cnntui.run_command import stop_when_reader_gone
from cnntui.runlog import RunLogWriter
from cnntui.tui.outcome import RunOutcome
from cnntui.tui.state import RunState

NO_SPACE = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def train(config) -> tuple[int, list[Event], Trainer]:
    events: list[Event] = []
    trainer = Trainer(config, subscribers=[events.append])
    return trainer.run(), events, trainer


def whole_lines(path: Path) -> list[dict]:
    """Every line of a file that ends with a whole line, parsed (raises on a torn one)."""
    text = path.read_text()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnntui: error: "), stderr
    return lines[0].removeprefix("cnntui: error: ")


def test_a_full_disk_under_the_run_log_stops_the_run_and_keeps_last_pt_and_summary(
    tiny_config, monkeypatch, capsys
) -> None:
    """The write of events.jsonl raised into the training loop: a traceback, exit 1, and
    neither last.pt nor summary.json."""
    config = dataclasses.replace(tiny_config, epochs=1, log_interval=1e-9)  # a step event a step
    events_file = Path(config.run_dir) / "events.jsonl"
    real_write = RunLogWriter._write
    writes = []

    def filling_up(self: RunLogWriter, data: bytes) -> None:
        writes.append(data)
        if b'"step":3,' in data and b'"event":"step"' in data:
            # Half the line reaches the disk, as a write that fills it does.
            os.write(self._file.fileno(), data[: len(data) // 2])
            raise NO_SPACE
        real_write(self, data)

    monkeypatch.setattr(RunLogWriter, "_write", filling_up)
    code, events, trainer = train(config)
    assert code == 1
    message = f"no space left on device writing {events_file}"
    assert one_error_line(capsys.readouterr().err) == message
    assert b'"event":"step"' in writes[-1]  # nothing more was tried after the failure
    assert isinstance(events[-1], RunFailed) and events[-1].error == message
    summary = json.loads((Path(config.run_dir) / "summary.json").read_text())
    assert (summary["status"], summary["exit_code"], summary["message"]) == ("failed", 1, message)
    # The run stopped at a batch and its last.pt resumes there, as after Ctrl-C.
    checkpoint = load_checkpoint(Path(config.run_dir))
    assert checkpoint["step"] == summary["steps"] == trainer.summary["steps"] == 3
    assert checkpoint["epoch_batch"] == 3
    assert [e.reason for e in events if isinstance(e, CheckpointSaved)] == ["last"]
    # The half line is cut: the file ends with the last whole event, step 2's.
    logged = whole_lines(events_file)
    assert len(logged) == len(writes) - 1
    assert [e["step"] for e in logged if e["event"] == "step"] == [1, 2]


def test_a_checkpoint_that_cannot_be_saved_ends_the_run_with_last_pt_after_the_epoch(
    tiny_config, monkeypatch, capsys
) -> None:
    """best.pt failed at the end of epoch 1: the run fails, and the last.pt it still writes
    resumes at epoch 2. It was not attempted, and the epoch counter was left behind."""
    real_save = epoch_end.save_checkpoint

    def no_room_for_best(state: dict, path: Path) -> Path:
        if path.name == "best.pt":
            raise write_error(path, NO_SPACE)
        return real_save(state, path)

    monkeypatch.setattr(epoch_end, "save_checkpoint", no_room_for_best)
    code, events, _ = train(tiny_config)
    assert code == 1
    run_dir = Path(tiny_config.run_dir)
    message = f"no space left on device writing {run_dir / 'best.pt'}"
    assert one_error_line(capsys.readouterr().err) == message
    assert events[-1].error == message
    checkpoint = load_checkpoint(run_dir / "last.pt")
    assert (checkpoint["epoch"], checkpoint["epoch_batch"], len(checkpoint["history"])) == (
        1,
        0,
        1,
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["message"], summary["epochs_completed"]) == (
        "failed",
        message,
        1,
    )


def test_a_summary_that_cannot_be_written_fails_a_finished_run(
    tiny_config, monkeypatch, capsys
) -> None:
    """The summary's write raised out of the run's end: a traceback, and no `finished` line."""
    config = dataclasses.replace(tiny_config, epochs=1, max_steps=3)
    summary_file = Path(config.run_dir) / "summary.json"

    def no_room(path: Path, data: dict) -> None:
        raise write_error(path, NO_SPACE)

    monkeypatch.setattr(run_end, "write_json", no_room)
    code, events, trainer = train(config)
    assert code == 1
    message = f"no space left on device writing {summary_file}"
    assert one_error_line(capsys.readouterr().err) == message
    assert (Path(config.run_dir) / "last.pt").is_file()
    assert not summary_file.exists()
    assert isinstance(events[-1], RunFailed) and events[-1].error == message
    assert events[-1].traceback == ""  # expected: the line says it all
    assert whole_lines(Path(config.run_dir) / "events.jsonl")[-1]["event"] == "failed"
    assert (trainer.summary["status"], trainer.summary["message"]) == ("failed", message)


def test_a_run_log_that_fails_at_its_last_line_is_told_on_stderr(
    tiny_config, monkeypatch, capsys
) -> None:
    """Training, checkpoints and summary are complete; only the `finished` line is missing."""
    config = dataclasses.replace(tiny_config, epochs=1, max_steps=3)
    real_write = RunLogWriter._write

    def full_at_the_end(self: RunLogWriter, data: bytes) -> None:
        if b'"event":"finished"' in data:
            raise NO_SPACE
        real_write(self, data)

    monkeypatch.setattr(RunLogWriter, "_write", full_at_the_end)
    code, _, trainer = train(config)
    events_file = Path(config.run_dir) / "events.jsonl"
    assert one_error_line(capsys.readouterr().err) == (
        f"no space left on device writing {events_file}"
    )
    assert code == 0 and trainer.summary["status"] == "finished"
    assert whole_lines(events_file)[-1]["event"] == "checkpoint"


class FullAt(io.StringIO):
    """A stdout on a full disk from the first line that holds `trigger` on."""

    def __init__(self, trigger: str) -> None:
        super().__init__()
        self.trigger, self.full = trigger, False

    def write(self, text: str) -> int:
        self.full = self.full or self.trigger in text
        if self.full:
            raise NO_SPACE
        return super().write(text)


@pytest.mark.parametrize("stdout_first", [True, False])
def test_stdout_and_the_run_log_both_full_are_told_in_the_order_they_failed(
    tiny_config, monkeypatch, capsys, stdout_first: bool
) -> None:
    """Each stops the run and fails it. The run log's failure was raised whichever came first,
    and stdout's was lost: a run whose stdout filled first said only that events.jsonl had."""
    config = dataclasses.replace(tiny_config, epochs=1, log_interval=1e-9)  # a step event a step
    events_file = Path(config.run_dir) / "events.jsonl"
    # The first to fail does at step 2; the other at the `stopping` line that follows it.
    # Each moment as the run log and stdout write it.
    step_2, stopping = ('"step":2,', "step 2/"), ('"state":"stopping"', "stopping at step")
    log_trigger, stdout_trigger = (
        (stopping[0], step_2[1]) if stdout_first else (step_2[0], stopping[1])
    )
    real_write = RunLogWriter._write

    def filling_up(self: RunLogWriter, data: bytes) -> None:
        if log_trigger.encode() in data:
            raise NO_SPACE
        real_write(self, data)

    monkeypatch.setattr(RunLogWriter, "_write", filling_up)
    trainer = Trainer(config)
    trainer.subscribe(
        PlainReporter(
            FullAt(stdout_trigger), interval=0, on_reader_gone=stop_when_reader_gone(trainer)
        )
    )
    assert trainer.run() == 1
    stdout, log = (
        "no space left on device writing stdout",
        f"no space left on device writing {events_file}",
    )
    message = f"{stdout}; also {log}" if stdout_first else f"{log}; also {stdout}"
    assert one_error_line(capsys.readouterr().err) == message
    assert trainer.summary["message"] == message and trainer.summary["steps"] == 2
    assert load_checkpoint(Path(config.run_dir))["step"] == 2


def test_a_run_directory_deleted_under_the_run_stops_it(tiny_config, capsys) -> None:
    """Events went on into the deleted file; the run trained to its first checkpoint and died
    there with a traceback, after which the summary's write raised another."""
    run_dir = Path(tiny_config.run_dir)
    config = dataclasses.replace(tiny_config, epochs=50, log_interval=1e-9)
    steps: list[int] = []
    events: list[Event] = []

    def delete_it(event: Event) -> None:
        events.append(event)
        if isinstance(event, StepMetrics):
            steps.append(event.step)
            if len(steps) == 1:
                shutil.rmtree(run_dir)

    trainer = Trainer(config, subscribers=[delete_it])
    assert trainer.run() == 1
    message = f"the run directory {run_dir} was deleted during the run"
    assert one_error_line(capsys.readouterr().err) == message
    assert trainer.summary["message"] == message
    # An expected failure is its one line: the dashboard's log showed a traceback under it,
    # "raise self.failures[0]  # what the run stopped for" and a row of ^.
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.traceback == ""
    state = RunState()
    state.apply(events)
    assert [line.text for line in state.log if line.level == "error"] == [
        f"failed at step 1: {message}"
    ]
    assert not run_dir.exists()  # not made again: whoever deleted it wanted it gone
    assert steps == [1]  # the next event (the device sample after it) found it gone


def limit_file_size(limit: int):
    """Writes past `limit` bytes fail with EFBIG (its SIGXFSZ, which kills, is ignored)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_failed_save_keeps_the_previous_files_and_leaves_no_temp_file(tmp_path) -> None:
    """A real failed write (a file size limit): torch.save's RuntimeError ("unexpected pos")
    became the run's message, and write_json left its temp file behind."""
    script = textwrap.dedent(
        """
        import resource, signal, sys, torch
        from pathlib import Path
        from cnntui.engine.checkpoint import save_checkpoint
        from cnntui.errors import WriteError
        from cnntui.runlog import write_json
        run_dir = Path(sys.argv[1])
        save_checkpoint({"model": torch.zeros(10), "config": {}}, run_dir / "last.pt")
        write_json(run_dir / "summary.json", {"status": "running"})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        for write in (
            lambda: save_checkpoint({"model": torch.zeros(10_000)}, run_dir / "last.pt"),
            lambda: write_json(run_dir / "summary.json", {"big": "x" * 30_000}),
        ):
            try:
                write()
            except WriteError as exc:
                print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"file too large writing {tmp_path / 'last.pt'} (the previous last.pt is kept)",
        f"file too large writing {tmp_path / 'summary.json'}",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "summary.json"]
    assert load_checkpoint(tmp_path)["model"].equal(torch.zeros(10))
    assert json.loads((tmp_path / "summary.json").read_text()) == {"status": "running"}


def test_the_cli_on_a_run_log_that_hits_the_file_size_limit(tmp_path) -> None:
    """End to end, with real failing writes: exit 1, one error line, the `failed` line last on
    stdout, and summary.json; the run died with a traceback and neither."""
    run_dir = tmp_path / "run"
    command = [
        *(sys.executable, "-m", "cnntui", "run", "lenet", "--epochs", "1", "-b", "16"),
        *("--dataset", "synthetic:1x28x28:10:train=1024:test=64", "--set", "log_interval=1e-9"),
        *("--json", "--run-dir", str(run_dir)),
    ]
    # run_started (about 5.5 KB) fits; the step events of the first few batches fill the rest.
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size(8_000)
    )
    assert out.returncode == 1, out.stderr
    events_file = run_dir / "events.jsonl"
    message = f"file too large writing {events_file}; also file too large writing "
    message += f"{run_dir / 'last.pt'}"
    assert one_error_line(out.stderr) == message
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["exit_code"], summary["message"]) == ("failed", 1, message)
    assert summary["epochs_completed"] == 0  # it stopped after the batch, not at the epoch's end
    logged = whole_lines(events_file)
    assert logged[0]["event"] == "run_started" and "step" in {e["event"] for e in logged}
    assert logged[-1]["event"] not in ("failed", "finished")  # that line found no room
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.json",
        "events.jsonl",
        "summary.json",
    ]
    last = json.loads(out.stdout.splitlines()[-1])
    assert (last["event"], last["error"], last["exit_code"]) == ("failed", message, 1)


def failed_outcome(run_dir: Path, error: str) -> RunOutcome:
    """What the dashboard's subscriber keeps of a run in `run_dir` that failed at step 7."""
    outcome = RunOutcome()
    fields = dict(model="lenet", dataset="fmnist", device="cpu", device_name="x86_64", epochs=1)
    fields.update(steps_per_epoch=1, batch_size=1, num_params=1, classes=[], config={})
    outcome(RunStarted(run_name="r", run_dir=str(run_dir), **fields))
    outcome(RunFailed(error=error, traceback="", step=7))
    return outcome


def test_the_dashboard_closes_on_a_failed_run_with_its_error(tmp_path: Path) -> None:
    """It said "stopped before training started; nothing was saved" of a run that had failed."""
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    error = f"no space left on device writing {run_dir}/events.jsonl"
    assert failed_outcome(run_dir, error).line() == (
        f"cnntui: error: {error} (at step 7) · run directory: {run_dir}"
    )


def test_the_dashboard_closes_without_pointing_at_a_deleted_run_directory(tmp_path) -> None:
    """`rm -rf` of the run directory fails the run; the last line pointed the user at it."""
    error = f"the run directory {tmp_path / 'r'} was deleted during the run"
    assert failed_outcome(tmp_path / "r", error).line() == f"cnntui: error: {error} (at step 7)"
