"""The run directory: config, the append-only `events.jsonl`, checkpoints and `summary.json`.

`events.jsonl` is written one flushed line per event so another process (`cnntui watch`) can read
it while the run is going; readers skip a partly written last line and pick it up next time.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cnntui.engine.events import Event, event_from_dict
from cnntui.errors import UsageError

EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"


def new_run_dir(root: Path, model: str, dataset: str) -> Path:
    """`root/<time>-<model>-<dataset>/`, made unique if two runs start in the same second."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{model}-{dataset}")
    base = root / f"{stamp}-{safe}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    make_dir(path, f"--runs-root {root}")
    return path


def make_dir(path: Path, named_by: str) -> None:
    """mkdir -p, with a usage error naming the option instead of an OSError's traceback."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{named_by}: cannot create {path} ({exc.strerror or exc})") from None


def check_can_create(path: Path, named_by: str) -> None:
    """Before set-up's seconds: a directory that cannot be made is refused now, not after."""
    ancestor = Path(os.path.abspath(path))
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{named_by}: cannot create {path}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{named_by}: cannot create {path}: no permission to write in {ancestor}")


# Files that only a run writes: a directory holding one of them is a run, not a place for one.
RUN_FILES = (EVENTS_FILE, CONFIG_FILE, SUMMARY_FILE, "last.pt", "best.pt")
# Written into the run directory before rank 0 starts (`run --nproc` with the dashboard).
LAUNCH_LOG = "launch.log"


def check_new_run_dir(path: Path) -> None:
    """Refuse a `--run-dir` that is not new or empty: a second run in a run's directory would
    replace its checkpoints, config and summary and append to its events, and in any other
    directory the run's files would be mixed with files it does not own."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--run-dir {path} is a file, not a directory; pick another path")
    check_can_create(path, "--run-dir")
    found = [name for name in RUN_FILES if (path / name).exists()]
    if found:
        go_on = (
            f", or continue that run with `cnntui run --resume {path}` (add --epochs N to train "
            "it for longer)"
            if (path / "last.pt").exists()
            else ""
        )
        raise UsageError(
            f"--run-dir {path} already holds a run ({', '.join(found)}); pick a new directory"
            + go_on
        )
    others = sorted(p.name for p in path.iterdir() if p.name != LAUNCH_LOG) if path.is_dir() else []
    if others:
        shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
        raise UsageError(
            f"--run-dir {path} is not empty (it holds {shown}); pick a new or empty directory"
        )


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
    """Subscriber that appends each event to `events.jsonl` as one flushed line."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / EVENTS_FILE
        torn = ends_mid_line(path)
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115
        if torn:
            # A run killed mid-write (kill -9, a crash) left half a line. Appended to as it is,
            # the resumed run's first event (its run_started) would join that half and be
            # skipped by every reader; ended here, only the torn half is.
            self._file.write("\n")
            self._file.flush()

    def __call__(self, event: Event) -> None:
        self._file.write(event_to_json(event) + "\n")
        # Flushed, not fsynced: readers on the same machine see it at once, and a crash of this
        # process loses nothing already written. fsync per event would tie training to the disk.
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


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
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_json_safe(data), f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class EventReader:
    """Reads `events.jsonl` incrementally; `poll()` returns the events completed since last time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[Event]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
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


def newest_run(root: Path) -> Path | None:
    """The most recently modified run directory under `root` that has an events file."""
    candidates = [p for p in Path(root).glob("*/") if (p / EVENTS_FILE).exists()]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p / EVENTS_FILE).stat().st_mtime)
