"""A thread-safe event buffer: the training thread appends, a UI timer drains."""

from __future__ import annotations

import threading
from collections import deque

from cnntui.engine.events import Event


class EventBuffer:
    """Bounded so a stalled reader cannot grow memory; appending never blocks on the reader."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.dropped = 0

    def __call__(self, event: Event) -> None:
        with self._lock:
            if len(self._events) == self._events.maxlen:
                self.dropped += 1
            self._events.append(event)

    def drain(self) -> list[Event]:
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events
