"""The dashboard's entry points: `run_dashboard` (live training) and `watch_dashboard` (replay).

`cnntui run` calls the first on a terminal, `cnntui watch` the second; both return an exit code.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path

from cnntui.engine.buffer import EventBuffer
from cnntui.errors import EXIT_INTERRUPTED, UsageError
from cnntui.runlog import CONFIG_FILE, EVENTS_FILE, newest_run
from cnntui.tui.dashboard import Dashboard, Trainer
from cnntui.tui.outcome import NOTHING_SAVED, RunOutcome
from cnntui.tui.pacing import DRAW_PHASES_ENV
from cnntui.tui.sources import BufferSource, FileSource

__all__ = ["Dashboard", "resolve_run_dir", "run_dashboard", "watch_dashboard"]

# While the dashboard trains, the UI thread and the training thread share the GIL. The training
# thread drops it for every op; if the UI thread picks it up mid-render, CPython lets it run on
# for up to the switch interval (5 ms by default) before handing it back, and training waits
# with every core idle. At 0.5 ms a render costs training little more than its own CPU time: on
# 2 cores with a 2.5% UI budget, drawing/idle throughput went from 0.945 (4 runs) to 0.965-1.00
# (10 runs) (bench/draw_cost.py).
GIL_SWITCH_INTERVAL = 0.0005
CLEAR_LINE = "\r\x1b[K"  # to the line's start, erase to its end


def run_dashboard(trainer: Trainer, exit_on_finish: bool = False) -> int:
    """Train with the live dashboard; the run's exit code, or 130 when the user quit early."""
    buffer = EventBuffer()
    trainer.subscribe(buffer)
    outcome = RunOutcome()
    trainer.subscribe(outcome)
    trainer.failures_on_stderr = "none"  # the dashboard shows it, then the outcome line below
    app = Dashboard(
        BufferSource(buffer),
        trainer,
        exit_on_finish=exit_on_finish,
        handle_signals=True,
        draw_phase_seconds=float(os.environ.get(DRAW_PHASES_ENV) or 0) or None,
    )
    interrupted = False
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    discard_type_ahead()
    try:
        app.run()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sys.setswitchinterval(switch_interval)
        if app.trainer_started and not app.trainer_done.is_set():
            # However the app ended, the trainer stops cleanly and writes last.pt and summary.
            trainer.request_stop("the dashboard closed")
            app.trainer_done.wait()
        if not app.trainer_started:
            trainer.discard_unstarted()
    line = outcome.line()
    if sys.stderr.isatty():
        # Keys typed while the run set up were echoed after the `setting up` line, and the
        # terminal's cursor is back there: without this, `sep` + the outcome read
        # "sepcnntui: interrupted after…". Return and erase the line before writing.
        sys.stderr.write(CLEAR_LINE)
    print(line or NOTHING_SAVED, file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    return app.return_code if app.return_code is not None else app.run_exit_code


def discard_type_ahead() -> None:
    """Drop the keys typed while the run set up. They had nothing to act on: the terminal was
    blank but for the `setting up` line for seconds, and read once the dashboard opened, a `p`
    started the run paused and a `q` opened it under the quit dialog. Ctrl-C is a signal, not
    input, and still stops the set-up."""
    if not sys.stdin.isatty():
        return
    try:
        import termios
    except ImportError:  # not a POSIX terminal: nothing buffered that we can drop
        return
    # A stdin that is closed or no longer a terminal holds no keys either.
    with contextlib.suppress(termios.error, OSError, ValueError):
        termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)


def resolve_run_dir(run_dir: Path | None, runs_root: Path = Path("runs")) -> Path:
    """The run to watch: the given directory (or its events.jsonl), which may be one still to
    be made in a folder that exists or in `runs_root`; else the newest in `runs_root`."""
    if run_dir is None:
        if not runs_root.is_dir():  # most often: watch typed in another folder than the run's
            where = "" if runs_root.is_absolute() else f" in {Path.cwd()}"
            raise UsageError(
                f"no runs to watch: {runs_root}/ does not exist{where}; pass RUN_DIR, "
                "or --runs-root for the folder the runs are in"
            )
        newest = newest_run(runs_root)
        if newest is None:
            raise UsageError(f"no runs with an {EVENTS_FILE} under {runs_root}/; pass RUN_DIR")
        return newest
    path = Path(run_dir)
    if path.name == EVENTS_FILE and path.is_file():
        return path.parent
    if not path.exists():
        # A path to the events file names its run directory: a directory called events.jsonl
        # made there would stop the run from writing its log.
        run = path.parent if path.name == EVENTS_FILE else path
        if not run.exists():
            if run.parent.is_dir() or os.path.abspath(run.parent) == os.path.abspath(runs_root):
                # Often a run just started with --run-dir PATH, or the run that makes the runs
                # root, has not made it yet (its set-up takes seconds): watch waits for it.
                return run
            # Nor its folder: more likely a typo than a run to come, which would never appear.
            raise UsageError(
                f"no such directory: {run.parent}; to watch a run about to start in "
                f"{run}, `mkdir -p {shlex.quote(str(run))}` first (watch waits for a run "
                "directory to appear in a folder that exists)"
            )
        path = run  # a directory without its events file yet: checked as any directory
    if not path.is_dir():
        raise UsageError(f"not a run directory: {path}")
    # An empty directory may be a run about to start (its --run-dir): watch waits for it. One
    # that holds other things and no run files is a wrong path, and would be waited on for ever.
    if (
        not (path / EVENTS_FILE).exists()
        and not (path / CONFIG_FILE).exists()
        and any(path.iterdir())
    ):
        newest = newest_run(path)
        if newest is not None:  # `cnntui watch runs/`: the folder of the runs, not one
            raise UsageError(
                f"not a run directory: {path} holds runs, not one; watch the newest with "
                f"`cnntui watch {shlex.quote(str(newest))}` or "
                f"`cnntui watch --runs-root {shlex.quote(str(path))}`"
            )
        raise UsageError(f"not a run directory: {path} holds no {EVENTS_FILE}")
    return path


def watch_dashboard(run_dir: Path | None = None, runs_root: Path = Path("runs")) -> int:
    """Replay a finished run or tail a running one, read-only; 0 when the viewer quits."""
    path = resolve_run_dir(run_dir, runs_root)
    app = Dashboard(FileSource(path), watch_path=path, handle_signals=True)
    try:
        app.run()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return app.return_code or 0
