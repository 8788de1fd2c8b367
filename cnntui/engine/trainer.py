"""The Trainer: runs epochs of training and evaluation and emits typed events to subscribers.

The TUI, the headless printers and the run log are only subscribers. `Trainer` is the façade other
threads talk to (controls, state); `TrainingLoop` in loop.py does the work, and how the run
ends (last.pt, summary.json, its last event and its message) is run_end.py's.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnntui.config import RunConfig
from cnntui.engine import distributed
from cnntui.engine.checkpoint import load_checkpoint
from cnntui.engine.control import Controls
from cnntui.engine.divergence import Diverged
from cnntui.engine.events import FIRST_STEP, Event, Heartbeat, RunFailed, RunFinished, RunStarted
from cnntui.engine.loop import TrainingLoop
from cnntui.engine.pulse import HEARTBEAT_EVERY, Pulse
from cnntui.engine.resume import keep_later_last
from cnntui.engine.run_end import RunEnd, cut_short
from cnntui.engine.setup import RunSetup, prepare_run
from cnntui.engine.stderr_policy import StderrPolicy
from cnntui.errors import EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, CnntuiError
from cnntui.resume_path import open_resumed_log, resumable_run_dir
from cnntui.runlog import CONFIG_FILE, EVENTS_FILE, RunLogWriter, write_config

Subscriber = Callable[[Event], None]

__all__ = ["Diverged", "StderrPolicy", "Subscriber", "Trainer"]


class Trainer(RunEnd):
    """One training run. `setup()` may raise CnntuiError; `run()` reports failures as events."""

    def __init__(
        self,
        config: RunConfig,
        subscribers: list[Subscriber] | None = None,
        resume_from: Path | None = None,
        resume_overrides: dict[str, Any] | None = None,
        write_run_dir: bool = True,
        sources: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        # Where each setting came from (a preset file, the command line), for messages.
        self.sources = sources
        self.subscribers: list[Subscriber] = list(subscribers or [])
        self.resume_from = Path(resume_from) if resume_from else None
        self.resume_overrides = resume_overrides
        self.write_run_dir = write_run_dir
        self.controls = Controls()
        self.state = "starting"
        self.setup_done: RunSetup | None = None
        self._log: RunLogWriter | None = None
        self.summary: dict[str, Any] = {}  # what summary.json holds, once run() has returned
        # What `stop_and_fail` was told, in the order it happened: the first is the run's error.
        self.failures: list[CnntuiError] = []
        # Time the emitting thread spent in subscribers (run log, printers, the dashboard's
        # buffer): what reporting costs training, measured where it is paid.
        self.reporting_seconds = 0.0
        # Which failures are said on stderr too, besides the events and the summary; set by
        # who shows the events (see `StderrPolicy`).
        self.failures_on_stderr: StderrPolicy = "writes"
        # The most seconds without an event once the run has started: a heartbeat fills any
        # longer quiet (pulse.py), and the state events say so to `watch`. Tests shorten it.
        self.heartbeat_every = HEARTBEAT_EVERY
        # Held while subscribers get an event: the pulse's thread emits too, and a line of the
        # run log must not be written into another.
        self._emitting = threading.RLock()
        self._last_emitted = time.monotonic()
        self._loop: TrainingLoop | None = None  # the step a heartbeat is at
        self._beating = False
        # What the run is doing, for its heartbeats (events.py's phases): a plain attribute that
        # the training thread sets where a phase begins or ends (at most once a read window,
        # never per step), and the pulse's thread reads.
        self.phase = FIRST_STEP

    # --- control from other threads -----------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def pause(self) -> None:
        self.controls.pause()

    def resume(self) -> None:
        self.controls.resume()

    def toggle_pause(self) -> None:
        self.controls.toggle_pause()

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop at the next batch boundary, saving last.pt; `reason` becomes the summary's
        message ("SIGTERM", "quit from the dashboard")."""
        self.controls.request_stop(reason)

    def request_save(self) -> None:
        self.controls.request_save()

    def request_evaluate(self) -> None:
        self.controls.request_evaluate()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def run_dir(self) -> Path | None:
        return self.setup_done.run_dir if self.setup_done else None

    def setup(self) -> RunSetup:
        """Build model, data, optimiser; create the run directory. Raises CnntuiError."""
        if self.setup_done is None:
            resume_state = resume_dir = None
            if self.resume_from:
                # A run still training there is refused first: before the checkpoint is read
                # (seconds for a big model), and whether or not it has written last.pt yet.
                resume_dir = resumable_run_dir(self.resume_from)
                resume_state = load_checkpoint(self.resume_from)
            setup = prepare_run(
                self.config,
                resume_state,
                resume_dir,
                self.write_run_dir,
                self.resume_overrides,
                self.sources,
            )
            if setup.run_dir is not None:
                # Holds the directory (a run resumed while it still trains is refused here),
                # before config.json, which would replace the running process's.
                self._log = (
                    RunLogWriter(setup.run_dir, self.stop_and_fail)
                    if self.resume_from is None
                    else open_resumed_log(self.resume_from, setup.run_dir, self.stop_and_fail)
                )
                try:
                    write_config(setup.run_dir, setup.config.to_dict())
                except BaseException:
                    self._log.close()  # and with it the directory
                    self._log = None
                    raise
                self.subscribers.insert(0, self._log)
                if self.resume_from is not None:
                    # Now that this process holds the directory: no live run's file is moved.
                    setup.resume_note = keep_later_last(
                        Path(self.resume_from), setup.run_dir, setup.start_step
                    )
            self.setup_done = setup
            self.config = setup.config
        return self.setup_done

    def discard_unstarted(self) -> bool:
        """Remove the run directory of a run stopped before its first event; False when the
        run had started (its directory stays).

        It holds only config.json and an empty events.jsonl: nothing was trained. Left behind,
        it would be the newest run, which `cnntui watch` opens and waits on for ever. A resumed
        run's directory has its earlier events, and stays."""
        if self.state != "starting":
            return False
        if self.setup_done is None or self.run_dir is None or self._log is None:
            return True
        self._log.close()
        self.subscribers.remove(self._log)
        self._log = None
        run_dir = self.run_dir
        events = run_dir / EVENTS_FILE
        names = {path.name for path in run_dir.iterdir()}
        if names <= {CONFIG_FILE, EVENTS_FILE} and events.stat().st_size == 0:
            shutil.rmtree(run_dir)
            self.setup_done.run_dir = None
        return True

    def emit(self, event: Event) -> None:
        started = time.perf_counter()
        with self._emitting:
            self._deliver(event)
        self.reporting_seconds += time.perf_counter() - started

    def _deliver(self, event: Event) -> None:
        for subscriber in self.subscribers:
            subscriber(event)
        self._last_emitted = time.monotonic()
        # Heartbeats go between the run's first event and its last: watch waits for the first
        # whatever the time, and the log is closed after the last.
        if isinstance(event, RunStarted):
            self._beating = True
        elif isinstance(event, RunFinished | RunFailed):
            self._beating = False

    def _beat_if_quiet(self) -> float:
        """On the pulse's thread: a heartbeat if the run is under way and emitted nothing for
        `heartbeat_every` seconds; returns the seconds until one may be due."""
        every = self.heartbeat_every
        with self._emitting:
            quiet = time.monotonic() - self._last_emitted
            if not self._beating or self._loop is None:
                return every
            if quiet < every:
                return every - quiet
            try:
                # Not counted in reporting_seconds: that is what reporting costs training.
                self._deliver(Heartbeat(step=self._loop.step, phase=self.phase))
            except Exception as exc:
                # A subscriber's error: on the training thread it would fail the run, and so it
                # does from here, saving last.pt, rather than ending this thread with a traceback
                # over the dashboard and the heartbeats with it (a live run then read as SILENT).
                self._beating = False
                self.stop_and_fail(CnntuiError(f"a subscriber failed on a heartbeat: {exc!r}"))
        return every

    def run(self) -> int:
        """Train to the end (or a stop request); returns the process exit code."""
        try:
            with Pulse(self._beat_if_quiet):
                return self._run()
        finally:
            if self.setup_done is not None and self.setup_done.dist.enabled:
                distributed.destroy_process_group()

    def _run(self) -> int:
        started = time.perf_counter()
        loop: TrainingLoop | None = None
        try:
            setup = self.setup()
            loop = self._loop = TrainingLoop(self, setup)
            code = loop.run()
            if self.failures:
                raise self.failures[0]  # what the run stopped for
        except KeyboardInterrupt as exc:
            # A second signal (stop_on_signals), or Ctrl-C in a caller of the API: stop now,
            # without last.pt, but end the log and the summary so a script reads how it ended.
            # Before the first step there is no run to end (run_command discards it).
            if loop is not None:
                message = self._at_once(exc)
                self._finish(loop, "interrupted", EXIT_INTERRUPTED, started, message, save=False)
            raise
        except Diverged as exc:
            self.state = "failed"
            return self._finish(loop, "diverged", EXIT_DIVERGED, started, str(exc))
        except Exception as exc:
            self.state = "failed"
            return self._fail(loop, exc, started)
        if code == EXIT_OK:
            return self._finish(loop, "finished", code, started, cut_short(loop))
        # A stop was asked for; say by whom, so a script reading the summary knows.
        return self._finish(loop, "interrupted", code, started, self.controls.stop_reason)

    def stop_and_fail(self, failure: CnntuiError) -> None:
        """Stop after this batch, saving last.pt, then fail with `failure` (exit 1): a file the
        run writes as it goes (events.jsonl, stdout on a full disk) cannot be written, and
        raising it on the training thread would end the run wherever it stood, unsaved.
        Callable from any thread. The first failure leads the message; later ones follow it."""
        self.failures.append(failure)
        self.request_stop(str(failure))
