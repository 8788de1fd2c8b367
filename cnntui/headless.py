"""Headless reporters: a rich progress bar on a TTY, plain lines in a pipe, or JSON lines.

Each is a subscriber of the trainer's event stream, called on the training thread (and, for a
heartbeat, on the pulse's thread, never both at once), so each does as little as possible per
event.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
import traceback
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, TextIO

from cnntui.engine.events import (
    CheckpointSaved,
    EpochSummary,
    Event,
    Heartbeat,
    LogMessage,
    RunFailed,
    RunFinished,
    RunStarted,
    StateChanged,
    StepMetrics,
)
from cnntui.errors import EXIT_INTERRUPTED, CnntuiError, describe_failure
from cnntui.numbers import metric
from cnntui.reader_gone import LineWriter, OnGone
from cnntui.runlog import event_to_json
from cnntui.wording import batch_words, plural

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def epoch_line(event: EpochSummary, epochs: int) -> str:
    parts = [
        f"epoch {event.epoch + 1}/{epochs}",
        f"train loss {event.train_loss:.4f} acc {_percent(event.train_accuracy)}",
    ]
    if event.val_accuracy is not None:
        parts.append(f"val loss {event.val_loss:.4f} acc {_percent(event.val_accuracy)}")
    if event.test_accuracy is not None:
        parts.append(f"test loss {event.test_loss:.4f} acc {_percent(event.test_accuracy)}")
    parts.append(f"{event.examples_per_sec:,.0f} ex/s")
    parts.append(f"{event.duration:.1f}s" + (" (best)" if event.best else ""))
    return " | ".join(parts)


def finished_line(event: RunFinished) -> str:
    # 0.0 is an accuracy (a net that got every evaluated example wrong); None: none evaluated.
    best = (
        f", best accuracy {_percent(event.best_accuracy)}"
        if event.best_accuracy is not None
        else ""
    )
    if event.start_step:  # resumed: the time is this process's, so count its steps with it
        done = plural(event.step - event.start_step, "step")
        text = f"{event.status} at step {event.step:,}, {done} in {event.duration:.1f}s{best}"
    else:
        text = f"{event.status} after {plural(event.step, 'step')} in {event.duration:.1f}s{best}"
    return f"{text}: {event.message}" if event.message else text


class JsonReporter:
    """One JSON object per event on stdout, and nothing else there.

    `on_reader_gone` is called once if the reader of stdout leaves (a closed pipe)."""

    def __init__(self, stream: TextIO | None = None, on_reader_gone: OnGone | None = None) -> None:
        self.stream = stream or sys.stdout
        self._out = LineWriter(self.stream, on_reader_gone)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Heartbeat):
            return  # watch's sign of life, in events.jsonl; stdout's reader has the open pipe
        self._out.write(event_to_json(event) + "\n")


def write_failure_json(exc: BaseException, stream: TextIO | None = None) -> None:
    """The `failed` line of a run that failed before its first event (a bad flag, no data),
    so that every `--json` run ends its output with `finished` or `failed`."""
    message, code = describe_failure(exc)
    trace = "" if isinstance(exc, CnntuiError) else traceback.format_exc()
    write_failed_json(message, code, trace, stream)


@contextlib.contextmanager
def failed_line_on_error(json_output: bool) -> Iterator[None]:
    """A `--json` run refused by the command's first checks (a malformed --set, a --resume
    path that is not a run, --nproc's own), before any reporter exists, still ends its output
    with the `failed` line; the error goes on up to be said on stderr. Any exception, as in a
    single process's set-up (run_command): an unexpected one is a failed run there too."""
    try:
        yield
    except Exception as exc:
        if json_output:
            write_failure_json(exc)
        raise


def write_unstarted_json(message: str, stream: TextIO | None = None) -> None:
    """The `finished` line of a `--json` run stopped (Ctrl-C, SIGTERM) before it started."""
    JsonReporter(stream)(
        RunFinished(
            status="interrupted",
            exit_code=EXIT_INTERRUPTED,
            step=0,
            epoch=0,
            duration=0.0,
            message=message,
        )
    )


def write_failed_json(
    message: str, exit_code: int, trace: str = "", stream: TextIO | None = None
) -> None:
    """`write_failure_json` from the failure's words, where they are all there is of it: what a
    rank of a data-parallel run recorded, which its launcher writes."""
    # Through the reporter's writer: a reader that has left costs nothing, the exit code tells.
    JsonReporter(stream)(RunFailed(error=message, traceback=trace, step=0, exit_code=exit_code))


class PlainReporter:
    """Plain lines for logs and pipes: progress at most every `interval` seconds, no ANSI.

    Warnings go to `warnings` (stderr unless given) as `cnntui: warning: ...`: `--headless >
    run.log` keeps them in sight, and a script that reads stdout gets the progress lines alone."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        interval: float = 5.0,
        on_reader_gone: OnGone | None = None,
        warnings: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stdout
        self._warnings = warnings
        self._out = LineWriter(self.stream, on_reader_gone)
        self.interval = interval
        # -inf, not 0: time.monotonic() counts from boot, so on a machine up for less than
        # `interval` seconds a 0 would hold back the first progress line.
        self._last = -math.inf
        self._epochs = 1
        self._steps_per_epoch = 1

    def write(self, line: str) -> None:
        self._out.write(line + "\n")

    def warn(self, event: LogMessage) -> None:
        """A warning or error note, where the person running the command sees it."""
        # Looked up now: sys.stderr may have been replaced since (pytest's capture, a daemon's).
        stream = self._warnings or sys.stderr
        # Not through the LineWriter: a closed stderr loses the note, never stops the run.
        with contextlib.suppress(OSError, ValueError):
            stream.write(f"cnntui: {event.level}: {event.message}\n")
            stream.flush()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._epochs, self._steps_per_epoch = event.epochs, event.steps_per_epoch
            resumed = f", resuming at step {event.start_step}" if event.start_step else ""
            ranks = f" on {event.world_size} ranks" if event.world_size > 1 else ""
            self.write(
                f"run {event.run_name}: {event.model} on {event.dataset}, {event.device} "
                f"({event.device_name}), {event.num_params:,} parameters, "
                f"{plural(event.epochs, 'epoch')} x {plural(event.steps_per_epoch, 'step')} "
                f"of {batch_words(event.batch_size, event.data)}{ranks}{resumed}"
            )
            if event.run_dir:
                self.write(f"run directory: {event.run_dir}")
        elif isinstance(event, StepMetrics):
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                self.write(
                    f"epoch {event.epoch + 1}/{self._epochs} step "
                    f"{event.epoch_step}/{self._steps_per_epoch} loss {event.loss:.4f} "
                    f"acc {_percent(event.accuracy)} {event.examples_per_sec:,.0f} ex/s "
                    f"lr {metric(event.lr)}"
                )
        elif isinstance(event, EpochSummary):
            self.write(epoch_line(event, self._epochs))
        elif isinstance(event, CheckpointSaved):
            if event.reason != "last":
                self.write(f"saved {event.reason} checkpoint {event.path}")
        elif isinstance(event, StateChanged):
            if event.state in ("paused", "stopping"):
                self.write(f"{event.state} at step {event.step}")
        elif isinstance(event, LogMessage):
            if event.level == "info":
                self.write(f"{event.level}: {event.message}")
            else:
                self.warn(event)
        elif isinstance(event, RunFinished):
            self.write(finished_line(event))
        elif isinstance(event, RunFailed):
            self.write(f"failed at step {event.step}: {event.error}")


class RichReporter(PlainReporter):
    """On a terminal: a live progress bar per epoch, and the plain summary lines above it."""

    def __init__(
        self, console: Console | None = None, on_reader_gone: OnGone | None = None
    ) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console()
        super().__init__(self.console.file, interval=0, on_reader_gone=on_reader_gone)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]} acc {task.fields[acc]} {task.fields[speed]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._task: TaskID | None = None

    def write(self, line: str) -> None:
        self.console.print(line, highlight=False, markup=False)

    def warn(self, event: LogMessage) -> None:
        # stdout is the terminal here: above the progress bar, which a write to stderr would tear.
        self.write(f"{event.level}: {event.message}")

    def __call__(self, event: Event) -> None:
        if self._out.gone:
            return
        try:
            self._draw(event)
        except OSError as exc:  # the terminal hung up (SSH dropped): stop drawing, let the run stop
            with contextlib.suppress(Exception):
                self.progress.stop()  # its refresh thread would keep writing to the dead tty
            self._out.lose(exc)

    def _draw(self, event: Event) -> None:
        if isinstance(event, StepMetrics):
            self._progress_to(event)
            return
        if isinstance(event, EpochSummary | RunFinished | RunFailed) and self._task is not None:
            self.progress.remove_task(self._task)
            self._task = None
        if isinstance(event, RunFinished | RunFailed):
            self.progress.stop()
        super().__call__(event)

    def _progress_to(self, event: StepMetrics) -> None:
        fields: dict[str, Any] = {
            "epoch": f"{event.epoch + 1}/{self._epochs}",
            "loss": f"{event.loss:.4f}",
            "acc": _percent(event.accuracy),
            "speed": f"{event.examples_per_sec:,.0f} ex/s",
        }
        if self._task is None:
            self.progress.start()
            self._task = self.progress.add_task("train", total=self._steps_per_epoch, **fields)
        self.progress.update(self._task, completed=event.epoch_step, **fields)


def make_reporter(
    json_output: bool,
    stream: TextIO | None = None,
    on_reader_gone: OnGone | None = None,
) -> PlainReporter | JsonReporter:
    """JSON if asked; a progress bar on a terminal; plain lines otherwise."""
    stream = stream or sys.stdout
    if json_output:
        return JsonReporter(stream, on_reader_gone)
    if stream.isatty():
        return RichReporter(on_reader_gone=on_reader_gone)
    return PlainReporter(stream, on_reader_gone=on_reader_gone)
