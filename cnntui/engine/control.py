"""Requests from other threads (UI keys, signal handlers), honoured at batch boundaries."""

from __future__ import annotations

import threading


class Controls:
    """Flags the training loop checks between batches; setting one never blocks."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self.stop_requested = threading.Event()
        self.save_requested = threading.Event()
        self.evaluate_requested = threading.Event()
        self.stop_reason = "stop requested"  # why, for the summary: "SIGTERM", "stdout closed"

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def toggle_pause(self) -> None:
        if self.paused:
            self.resume()
        else:
            self.pause()

    def request_stop(self, reason: str = "stop requested") -> None:
        if not self.stop_requested.is_set():  # the first request is the cause; later ones echo it
            self.stop_reason = reason
        self.stop_requested.set()
        self._running.set()  # a paused loop must wake up to stop

    def request_save(self) -> None:
        self.save_requested.set()

    def request_evaluate(self) -> None:
        self.evaluate_requested.set()

    def wait_while_paused(self, timeout: float) -> bool:
        """Block up to `timeout` seconds while paused; True once running again."""
        return self._running.wait(timeout)

    @property
    def pending(self) -> bool:
        """Cheap check for the hot loop: is anything asked of it?"""
        return (
            self.paused
            or self.stop_requested.is_set()
            or self.save_requested.is_set()
            or self.evaluate_requested.is_set()
        )
