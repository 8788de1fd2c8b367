"""Where the dashboard's events come from: a live trainer's buffer or a run's events.jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from cnntui.engine.buffer import EventBuffer
from cnntui.engine.events import Event
from cnntui.runlog import EVENTS_FILE, EventReader


class EventSource(Protocol):
    """Polled by the app's timer; must return at once."""

    dropped: int

    def drain(self) -> list[Event]: ...


class BufferSource:
    """Events a trainer pushed into an EventBuffer from its thread."""

    def __init__(self, buffer: EventBuffer) -> None:
        self.buffer = buffer

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    def drain(self) -> list[Event]:
        return self.buffer.drain()


class FileSource:
    """Tails a run directory's events.jsonl; a partly written last line waits for the next poll."""

    dropped = 0

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.reader = EventReader(self.run_dir / EVENTS_FILE)

    def drain(self) -> list[Event]:
        return self.reader.poll()


class ListSource:
    """A fixed list of events, all delivered on the first drain (tests and snapshots)."""

    dropped = 0

    def __init__(self, events: list[Event]) -> None:
        self._events = list(events)

    def drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events
