"""`watch` on a run directory whose run has written no event yet: setting up, or gone.

A run makes its directory at the end of its set-up (config.json, an empty events.jsonl) and
writes its first event seconds later. A run killed in between left a directory that watch
waited on for ever, as for a run about to start. Heartbeats cannot tell the two apart: the pulse
beats only between the run's first event and its last (a beat before the first would break what
readers of the log rely on), and these seconds are shorter than its period. The lock the run
holds on its events.jsonl from the start (runlog.hold_run_dir) can: it ends with the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnntui.runlog import CONFIG_FILE, EVENTS_FILE, held_by_a_run


@dataclass(frozen=True)
class SetUp:
    ended: bool  # no process holds the directory any more: no event will come
    since: float  # wall-clock time of config.json, the set-up's last write


def unstarted_run(run_dir: Path) -> SetUp | None:
    """The run that made `run_dir` and has written no event yet; None where there is none (no
    config.json, or events written) or where it cannot be told (a file system without locks)."""
    try:
        since = (run_dir / CONFIG_FILE).stat().st_mtime
        if (run_dir / EVENTS_FILE).stat().st_size:
            return None
    except OSError:
        return None
    # config.json is written once the run holds the lock: a probe never meets a run taking it.
    held = held_by_a_run(run_dir)
    return None if held is None else SetUp(ended=not held, since=since)
