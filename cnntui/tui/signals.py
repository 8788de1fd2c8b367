"""Signals while the dashboard owns the terminal: stop the trainer cleanly, never hang on exit.

SIGTERM and `kill -INT` stop the run like `q` does (last.pt, summary, exit 130). SIGHUP means
the terminal is gone (an SSH session dropped): writing to it would fail or block the app's exit,
so the standard streams are pointed at /dev/null first, and a watchdog ends the process if
shutting down still hangs once the trainer has saved everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT") if hasattr(signal, name)
)
HANGUP = getattr(signal, "SIGHUP", None)
EXIT_GRACE = 5.0  # seconds for a normal shutdown after the trainer is done


def install(on_stop: Callable[[str], None], on_hangup: Callable[[], None]) -> None:
    """Route the signals to the app's loop (handlers run there, not in a random frame).
    `on_stop` gets the signal's name, the reason the run's summary gives."""
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_stop, signal.Signals(sig).name)
    if HANGUP is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(HANGUP, on_hangup)


def uninstall() -> None:
    loop = asyncio.get_running_loop()
    for sig in (*STOP_SIGNALS, HANGUP):
        if sig is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def detach_from_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null: the terminal behind them has hung up."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


def exit_after(done: threading.Event | None, code: int, grace: float = EXIT_GRACE) -> None:
    """Start a daemon that ends the process `grace` seconds after `done`, should exit hang."""

    def watchdog() -> None:
        if done is not None:
            done.wait()
        time.sleep(grace)
        os._exit(code)  # the trainer has saved and closed its files; nothing is left to lose

    threading.Thread(target=watchdog, name="cnntui-exit-watchdog", daemon=True).start()
