"""How a run ends: the message it ends with, last.pt, summary.json, its last event, and the
lines said on stderr.

A mixin of Trainer, not a part it holds: the end reads and sets the trainer's own state (its
failures so far, its stderr policy, the summary a caller reads) and emits through it.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

import torch

from cnntui.engine import distributed
from cnntui.engine.control import Controls
from cnntui.engine.events import Event, RunFailed, RunFinished, RunStatus
from cnntui.engine.run_records import run_summary
from cnntui.engine.setup import RunSetup
from cnntui.engine.stderr_policy import StderrPolicy, stderr_lines
from cnntui.errors import EXIT_ERROR, EXIT_INTERRUPTED, CnntuiError, WriteError, describe_failure
from cnntui.reader_gone import tell
from cnntui.runlog import SUMMARY_FILE, RunLogWriter, write_json
from cnntui.wording import plural

if TYPE_CHECKING:
    from pathlib import Path

    from cnntui.engine.loop import TrainingLoop


class RunEnd:
    """The end of a Trainer's run. Expects of its Trainer the attributes declared."""

    controls: Controls
    state: str
    setup_done: RunSetup | None
    summary: dict[str, Any]
    failures: list[CnntuiError]
    failures_on_stderr: StderrPolicy
    _log: RunLogWriter | None

    if TYPE_CHECKING:  # Trainer's own

        @property
        def run_dir(self) -> Path | None: ...

        def emit(self, event: Event) -> None: ...

    def _at_once(self, interrupt: KeyboardInterrupt) -> str:
        """`SIGINT twice (...)`, `SIGTERM, then SIGINT (...)`: why the run stopped unsaved."""
        second = str(interrupt.args[0]) if interrupt.args else "KeyboardInterrupt"
        first = self.controls.stop_reason if self.controls.stop_requested.is_set() else None
        if first is None:
            cause = second
        elif first == second:
            cause = f"{second} twice"
        else:
            cause = f"{first}, then {second}"
        return f"{cause} (stopped at once: last.pt not saved)"

    def _fail(self, loop: TrainingLoop | None, exc: Exception, started: float) -> int:
        """End the run on `exc`, raised out of it; called while `exc` is being handled, for its
        traceback. Returns the exit code."""
        if isinstance(exc, torch.OutOfMemoryError) and loop is not None:
            exc = CnntuiError(loop.out_of_memory_message())
        message, code = describe_failure(exc)
        dist = self.setup_done.dist if self.setup_done else distributed.context_from_env()
        message, from_peer = distributed.failure_message(dist, exc, message)
        if from_peer and self.failures_on_stderr == "all":  # that rank said it on stderr
            self.failures_on_stderr = "late"
        if dist.enabled and not dist.is_main and not from_peer:
            # Rank 0's reporters show rank 0's errors.
            print(f"cnntui: rank {dist.rank}: error: {message}", file=sys.stderr, flush=True)
        # With a peer's error as the cause, this rank's traceback shows only where it lost
        # the connection (a backward pass and "Connection closed by peer ... GLHF!").
        trace = "" if from_peer else _bug_trace(exc)
        return self._finish(loop, "failed", code, started, message, exc, trace)

    def _finish(
        self,
        loop: TrainingLoop | None,
        status: RunStatus,
        code: int,
        started: float,
        message: str,
        error: Exception | None = None,
        trace: str = "",
        save: bool = True,
    ) -> int:
        """Save last.pt (unless the weights are garbage, or not `save`), write the summary, emit
        the end; returns the exit code.

        Each of these is attempted whatever became of the others. One that fails turns a run
        that went well into a failed one (exit 1); after a failure it is added to the message,
        which still begins with what went wrong first."""
        duration = time.perf_counter() - started
        # A file of the run directory failed to write: the message goes to stderr too.
        write_failed = isinstance(error, WriteError)

        def also_failed(exc: Exception) -> None:
            nonlocal status, code, message, trace, write_failed
            text, _ = describe_failure(exc)
            write_failed = write_failed or isinstance(exc, WriteError)
            if status in ("finished", "interrupted"):
                status, code, message, trace = "failed", EXIT_ERROR, text, _bug_trace(exc)
            elif text not in message:
                message = f"{message}; also {text}" if message else text

        if isinstance(error, WriteError) and self.failures and error is not self.failures[0]:
            # The run was stopping for a failure (the run log, stdout) when a checkpoint
            # failed on the same disk: the message tells them in the order they happened.
            message = f"{self.failures[0]}; also {message}"
        # A failure to write the run directory leaves the weights as good as a stop does; any
        # other failure may have left them half updated, or the loss diverged.
        intact = status in ("finished", "interrupted") or isinstance(error, WriteError)
        insisted: KeyboardInterrupt | None = None
        if loop is not None and save and intact and not _failed_writing(error, "last.pt"):
            try:
                loop.save("last")
            except KeyboardInterrupt as exc:
                # A second signal while last.pt is written (the first stopped the run to save
                # it: seconds for a big model): the file stays as it was (save_checkpoint
                # renames into place), and the run ends as one stopped at once in its loop.
                insisted = exc
                if status in ("finished", "interrupted"):
                    status, code, message = "interrupted", EXIT_INTERRUPTED, self._at_once(exc)
            except Exception as exc:
                also_failed(exc)
        for failure in list(self.failures):  # those after the first, or while saving last.pt
            if failure is not error:
                also_failed(failure)
        summary = run_summary(loop, status, code, duration, message) if loop else {}
        summary.setdefault("status", status)
        summary.setdefault("exit_code", code)
        summary.setdefault("message", message)
        if self.run_dir is not None:
            try:
                write_json(self.run_dir / SUMMARY_FILE, summary)
            except Exception as exc:
                also_failed(exc)
                summary.update(status=status, exit_code=code, message=message)
        self.summary = summary
        self.state = "finished" if status in ("finished", "interrupted") else "failed"
        told = len(self.failures)
        if status == "failed":
            self.emit(
                RunFailed(
                    error=message,
                    traceback=trace,
                    step=loop.step if loop else 0,
                    exit_code=code,
                )
            )
        else:
            self.emit(
                RunFinished(
                    status=status,
                    exit_code=code,
                    step=loop.step if loop else 0,
                    epoch=loop.epoch if loop else 0,
                    duration=duration,
                    best_accuracy=loop.best_accuracy if loop else None,
                    message=message,
                    start_step=loop.setup.start_step if loop else 0,
                )
            )
        if self._log is not None:
            self._log.close()
        # Failed on the run's last line or its closing (the end missing from events.jsonl or
        # stdout): the run itself is complete, and its exit code stays.
        late = self.failures[told:]
        for line in stderr_lines(self.failures_on_stderr, status, message, write_failed, late):
            tell(line)
        if insisted is not None:
            raise insisted  # an API caller still gets its Ctrl-C, as Trainer._run re-raises it
        return code


def cut_short(loop: TrainingLoop) -> str:
    """Why a finished run ended before its epochs did (--max-steps); "" when it did not."""
    config = loop.config
    total = config.epochs * len(loop.data.train)
    if not loop.max_steps_reached() or loop.step >= total:
        return ""
    return (
        f"--max-steps {config.max_steps} reached, {plural(total - loop.step, 'step')} before "
        f"the end of {plural(config.epochs, 'epoch')}"
    )


def _bug_trace(exc: Exception) -> str:
    """The traceback of the exception being handled if it is a bug; "" for a failure cnntui
    expects (a CnntuiError: a deleted run directory, a full disk), whose one line says it all:
    its traceback showed the dashboard's log only where the run re-raised it."""
    return "" if isinstance(exc, CnntuiError) else traceback.format_exc()


def _failed_writing(error: Exception | None, name: str) -> bool:
    """Whether `error` was the failure to write that file: tried again, it fails again."""
    return isinstance(error, WriteError) and error.path.name == name
