"""Where the dashboard's events come from: a live trainer's buffer or a run's events.jsonl."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Protocol

from cnntui.engine.buffer import EventBuffer
from cnntui.engine.events import TERMINAL_KINDS, Event, LogMessage, RunStarted
from cnntui.runlog import EVENTS_FILE, EventReader, end_from_summary


class EventSource(Protocol):
    """Polled by the app's timer; must return at once."""

    @property
    def dropped(self) -> int: ...  # events lost to a full buffer

    # Whether the last drain ended with the last event the run's log held when the source
    # opened: that event's own `time` is then all that dates it (cnntui/tui/silence.py).
    ends_history: bool

    def drain(self) -> list[Event]: ...


class BufferSource:
    """Events a trainer pushed into an EventBuffer from its thread."""

    ends_history = False  # a live trainer's events are all news

    def __init__(self, buffer: EventBuffer) -> None:
        self.buffer = buffer

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    def drain(self) -> list[Event]:
        return self.buffer.drain()


def events_written(run_dir: Path) -> bool:
    """Whether a run has written any events to `run_dir` yet."""
    events = Path(run_dir) / EVENTS_FILE
    return events.is_file() and events.stat().st_size > 0


class FileSource:
    """Tails a run's events.jsonl from a background thread; a partly written line waits.

    Parsing a long run's file takes seconds: done off the UI thread, and handed over at most
    `max_batch` events per drain, the dashboard shows up and answers keys while it catches up.
    """

    def __init__(self, run_dir: Path, interval: float = 0.25, max_batch: int = 2000) -> None:
        self.run_dir = Path(run_dir)
        self.reader = EventReader(self.run_dir / EVENTS_FILE)
        self.interval = interval
        self.max_batch = max_batch
        self.dropped = 0
        self.ends_history = False
        self._history: int | None = None  # events in the file when the source opened
        self._handed = 0  # events handed over so far
        self._pending: deque[Event] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def drain(self) -> list[Event]:
        if self._thread is None:  # started by the first drain, i.e. once the app runs
            self._thread = threading.Thread(target=self._follow, name="cnntui-tail", daemon=True)
            self._thread.start()
        with self._lock:
            count = min(self.max_batch, len(self._pending))
            events = [self._pending.popleft() for _ in range(count)]
            self._handed += count
            self.ends_history = bool(count) and self._handed == self._history
            return events

    @property
    def caught_up(self) -> bool:
        """Whether everything read so far has been handed over."""
        with self._lock:
            return not self._pending

    def _follow(self) -> None:
        ended = False  # the events read so far end with the run's end
        while not self._stop.is_set():
            events = self.reader.poll()
            for event in events:
                if event.kind in TERMINAL_KINDS:
                    ended = True
                elif event.kind == RunStarted.kind:  # a resumed run goes on in the same log
                    ended = False
            if not events and not ended:
                end = end_from_summary(self.run_dir)
                if end is not None:
                    # The log stopped short (a full disk): without this, the run would look
                    # silent for ever, though its summary says how it ended.
                    note = "events.jsonl ends before the run did; its end is read from summary.json"
                    events = [LogMessage(level="warning", message=note, time=end.time), end]
                    ended = True
            with self._lock:
                if self._history is None:
                    self._history = len(events)
                self._pending.extend(events)
            self._stop.wait(self.interval)

    def close(self) -> None:
        self._stop.set()


class ListSource:
    """A fixed list of events, all delivered on the first drain (tests and snapshots)."""

    dropped = 0
    ends_history = False  # handed over as news, timed by their arrival: tests stay stable

    def __init__(self, events: list[Event]) -> None:
        self._events = list(events)

    def drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events
