"""The run directory: config, the append-only `events.jsonl`, checkpoints and `summary.json`.

`events.jsonl` is written one flushed line per event so another process (`cnntui watch`) can read
it while the run is going; readers skip a partly written last line and pick it up next time.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

from cnntui.engine.events import (
    Event,
    FinishedStatus,
    RunFailed,
    RunFinished,
    event_from_dict,
)
from cnntui.errors import UsageError, WriteError, write_error

try:
    import fcntl
except ImportError:  # Windows: no flock; a run directory is not guarded against a second run
    fcntl = None  # type: ignore[assignment]

EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"


# Files that only a run writes: a directory holding one of them is a run, not a place for one.
RUN_FILES = (EVENTS_FILE, CONFIG_FILE, SUMMARY_FILE, "last.pt", "best.pt")
# Written into the run directory before rank 0 starts (`run --nproc` with the dashboard).
LAUNCH_LOG = "launch.log"


def _json_safe(value: Any) -> Any:
    """NaN and infinities become strings so every line stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def event_to_json(event: Event) -> str:
    return json.dumps(_json_safe(event.to_dict()), separators=(",", ":"))


class RunLogWriter:
    """Subscriber that appends each event to `events.jsonl` as one flushed line.

    A write that fails (a full disk, the file or its directory deleted) does not raise into the
    training loop, where it would end the run wherever it happened to be, with no last.pt and no
    summary. The writer writes nothing more and tells `on_failure` the failure (the
    trainer's `stop_and_fail`): the run stops at the next batch, saves what it can and fails."""

    def __init__(
        self, run_dir: Path, on_failure: Callable[[WriteError], None] | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / EVENTS_FILE
        self.on_failure = on_failure
        self.failure: WriteError | None = None
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            torn = ends_mid_line(self.path)
            # Unbuffered: each event is one write() of a whole line. A buffered file keeps what
            # a failed write left in its buffer, and raises again on every later flush and on
            # close.
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115
        except OSError as exc:  # the directory made unwritable since it was checked
            raise write_error(self.path, exc) from exc
        hold_run_dir(self._file, self.run_dir)
        self._size = os.fstat(self._file.fileno()).st_size
        if torn:
            # A run killed mid-write (kill -9, a crash) left half a line. Appended to as it is,
            # the resumed run's first event (its run_started) would join that half and be
            # skipped by every reader; ended here, only the torn half is.
            try:
                self._write(b"\n")
            except OSError as exc:
                self._file.close()
                raise write_error(self.path, exc) from None

    def __call__(self, event: Event) -> None:
        if self.failure is not None:
            return
        try:
            # Flushed, not fsynced: readers on the same machine see it at once, and a crash of
            # this process loses nothing already written. fsync per event would tie training
            # to the disk.
            self._write((event_to_json(event) + "\n").encode())
        except OSError as exc:
            self._fail(exc)

    def _write(self, data: bytes) -> None:
        fd = self._file.fileno()
        # Writes to a deleted file succeed, into a file no one can read: a run whose directory
        # was removed would train on for hours, to fail at its first checkpoint.
        if os.fstat(fd).st_nlink == 0:
            raise FileNotFoundError(errno.ENOENT, "deleted", str(self.path))
        view = memoryview(data)
        while view:  # a write that fills the disk returns short; the next one raises
            view = view[os.write(fd, view) :]
        self._size += len(data)

    def _fail(self, exc: OSError) -> None:
        self.failure = write_error(self.path, exc)
        # Cut the half line the failed write left, so the file ends with a whole event (and
        # a resumed run appends after it), and give back what that half took of a full disk.
        with contextlib.suppress(OSError):
            os.ftruncate(self._file.fileno(), self._size)
        with contextlib.suppress(OSError):
            self._file.close()
        if self.on_failure is not None:
            self.on_failure(self.failure)

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            os.fsync(self._file.fileno())
        except OSError as exc:
            self._fail(exc)  # a disk that reports a full disk at the sync (NFS)
        else:
            self._file.close()


def hold_run_dir(file: Any, run_dir: Path) -> None:
    """Lock the open events.jsonl `file` for this process until it closes (or the process ends,
    however it ends); a run directory that another process holds is refused.

    Two processes in one run directory (a run resumed while it is still training) would
    append two runs' events to one log, and each would overwrite the other's checkpoints and
    summary. A file system without locks lets the run go on, as it did before."""
    if fcntl is None:
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise in_use(run_dir) from None
    except OSError:
        pass


def check_not_in_use(run_dir: Path) -> None:
    """Refuse a run directory that a live run holds (`hold_run_dir`) without writing anything:
    `run --nproc` checks before its ranks start, and before it writes launch.log there."""
    if held_by_a_run(run_dir):
        raise in_use(run_dir)


def held_by_a_run(run_dir: Path) -> bool | None:
    """Whether a live process holds the run directory (`hold_run_dir`), without writing
    anything; None where that cannot be told (no events.jsonl, a file system without locks)."""
    if fcntl is None:
        return None
    try:
        file = open(run_dir / EVENTS_FILE, "rb")  # noqa: SIM115
    except OSError:
        return None  # no events.jsonl: no run holds it
    with file:
        try:
            # Shared: it fails only while a run holds the exclusive lock, and ends at close.
            fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return None
    return False


def in_use(run_dir: Path) -> UsageError:
    # Said to a resume, and to a new run started beside another in one --run-dir, which
    # resuming the other's run would not help.
    return UsageError(
        f"{run_dir} is in use: another cnntui process is still training in it; to resume it, "
        "wait for it to end or stop it (Ctrl-C, or `q` in its dashboard); for a new run, "
        "give another --run-dir"
    )


def ends_mid_line(path: Path) -> bool:
    """Whether a file's last line has no newline (an empty or missing file has none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except FileNotFoundError:
        return False


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one.

    Raises WriteError; a temp file that could not be written in full is removed."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(_json_safe(data), f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_error(path, exc) from None


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    """The run's config.json (written again by each resumed run, with its changes)."""
    write_json(Path(run_dir) / CONFIG_FILE, config)


class EventReader:
    """Reads `events.jsonl` incrementally; `poll()` returns the events completed since last time."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = Path(path)
        self._offset = offset  # where to start: a resumed run's file holds earlier launches
        self._partial = b""

    def poll(self) -> list[Event]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except (FileNotFoundError, NotADirectoryError):  # no run there yet, or a file there
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        # The last piece has no newline yet: the writer may be in the middle of it.
        self._partial = lines.pop()
        events = []
        for line in lines:
            if line.strip():
                try:
                    events.append(event_from_dict(json.loads(line)))
                except (ValueError, KeyError, TypeError):
                    continue  # a line from a newer version or damaged: skip, keep reading
        return events


def read_events(run_dir: Path) -> list[Event]:
    """Every complete event of a run directory (or an events.jsonl path)."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / EVENTS_FILE
    return EventReader(path).poll()


def follow_events(run_dir: Path, interval: float = 0.25) -> Iterator[list[Event]]:
    """Yield batches of new events forever (callers stop after a terminal event)."""
    reader = EventReader(Path(run_dir) / EVENTS_FILE)
    while True:
        yield reader.poll()
        time.sleep(interval)


# How long summary.json must have stood newer than the last event before a reader takes the
# run's end from it: a run writes the summary, then its last event, milliseconds apart.
SUMMARY_SETTLED_AFTER = 2.0


def end_from_summary(run_dir: Path, now: float | None = None) -> Event | None:
    """The end of a run whose events.jsonl stops short of it (its disk filled, the file was
    deleted) but whose summary.json was written after its last event, as RunFinished or
    RunFailed; None while there is no such summary.

    A resumed run's directory holds the summary of the process before it: older than the
    events the resumed run has appended since, so it is not taken for this run's end."""
    events, summary = Path(run_dir) / EVENTS_FILE, Path(run_dir) / SUMMARY_FILE
    try:
        written = summary.stat().st_mtime
        if written <= events.stat().st_mtime:
            return None
        if (time.time() if now is None else now) - written < SUMMARY_SETTLED_AFTER:
            return None
        data = json.loads(summary.read_text(encoding="utf-8"))
        status, code, step = data["status"], int(data["exit_code"]), int(data.get("steps") or 0)
        message = str(data.get("message") or "")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if status == "failed":
        return RunFailed(error=message, traceback="", step=step, exit_code=code, time=written)
    if status not in get_args(FinishedStatus):
        # Not a RunStatus (a newer cnntui's, or garbage): not taken for the run's end.
        return None
    return RunFinished(
        status=status,
        exit_code=code,
        step=step,
        epoch=int(data.get("epochs_completed") or 0),
        duration=float(data.get("duration") or 0.0),
        best_accuracy=data.get("best_accuracy"),
        message=message,
        time=written,
    )


def newest_run(root: Path) -> Path | None:
    """The most recently modified run directory under `root` that has an events file."""
    candidates = [p for p in Path(root).glob("*/") if (p / EVENTS_FILE).exists()]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p / EVENTS_FILE).stat().st_mtime)
