"""`cnntui run`: resolve the config, set the run up, then train headless or under the dashboard."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnntui.config import RunConfig, load_config_with_sources
from cnntui.errors import EXIT_INTERRUPTED, CnntuiError, write_error
from cnntui.rank_setup_failure import launched_rank, leave_on_set_up_failure
from cnntui.reader_gone import DISK_FULL, OnGone, stdout_is_stderr, tell

SIGNAL_POLL_S = 0.1  # how late a Ctrl-C that CPython left pending is handled, at worst


def run_command(
    target: str | None,
    preset: str | None,
    overrides: dict[str, Any],
    resume: Path | None,
    headless: bool,
    json_output: bool,
    exit_on_finish: bool,
    nproc: int | None = None,
) -> int:
    if nproc is not None:
        from cnntui.launch import launch_command

        return launch_command(
            nproc, target, preset, overrides, resume, headless, json_output, exit_on_finish
        )

    trainer = None
    try:
        with terminations_as_ctrl_c():
            config, sources = resolve_config(target, preset, overrides, resume)
            if wants_dashboard(headless, json_output) and "WORLD_SIZE" not in os.environ:
                # The dashboard opens once torch is loaded and the run is set up: seconds of a
                # blank terminal on a small machine otherwise. It opens on the alternate screen,
                # so this line is what the terminal shows again when it closes. Said after the
                # command's first checks (no torch, instant): a refusal is its one line, as
                # `--nproc` says it.
                what = target or preset or (f"the run in {resume}" if resume else "the run")
                print(f"cnntui: setting up {what}…", file=sys.stderr, flush=True)
            # Torch loads here (seconds): a Ctrl-C from now until the first event leaves nothing.
            from cnntui.engine.distributed import context_from_env
            from cnntui.engine.trainer import Trainer

            dist = context_from_env()
            if dist.enabled:
                # A rank of a data-parallel run: never a dashboard (the launcher shows one), and
                # only rank 0 reports; the others print nothing but their own errors.
                headless, json_output = True, json_output and dist.is_main
            use_dashboard = wants_dashboard(headless, json_output)
            trainer = Trainer(
                config, resume_from=resume, resume_overrides=overrides, sources=sources
            )
            if json_output:
                from cnntui.headless import JsonReporter

                trainer.subscribe(JsonReporter(on_reader_gone=stop_when_reader_gone(trainer)))
                trainer.failures_on_stderr = "all"  # a person at the terminal reads no JSON
            # Bad data paths, unknown options: one clean error before anything opens.
            if use_dashboard:
                set_up_off_the_main_thread(trainer)
            else:
                trainer.setup()
        if use_dashboard:
            from cnntui.tui.app import run_dashboard

            return run_dashboard(trainer, exit_on_finish=exit_on_finish)
    except KeyboardInterrupt:
        # Ctrl-C while loading, setting up or while the dashboard loads: before the first event.
        if trainer is not None and not trainer.discard_unstarted():
            raise
        if launched_rank() is not None:
            # A rank is stopped while setting up by its launcher, which says why: another
            # rank's set-up error, or the signal that stopped the launch. It leaves as a rank
            # leaving on its own set-up error does, without the teardown that can abort in
            # torch (SIGABRT, which the launcher would report instead of the real cause).
            leave_rank(EXIT_INTERRUPTED)
        print(f"cnntui: {NOT_STARTED}", file=sys.stderr)
        if json_output:  # its script reads how it ended from the lines, as always
            from cnntui.headless import write_unstarted_json

            write_unstarted_json(NOT_STARTED)
        return EXIT_INTERRUPTED
    except Exception as exc:
        leave_on_set_up_failure(exc, json_output)  # a rank of a data-parallel run leaves
        if json_output:  # a script reading the lines learns the outcome from them, as always
            from cnntui.headless import write_failure_json

            write_failure_json(exc)
        raise

    if not json_output and dist.is_main:
        from cnntui.headless import make_reporter

        trainer.subscribe(
            make_reporter(json_output=False, on_reader_gone=stop_when_reader_gone(trainer))
        )
        # The reporter's `failed at step N: ...` line says it where stderr would, or stderr says
        # it on the terminal that `--headless > log.txt` leaves without the lines.
        trainer.failures_on_stderr = "late" if stdout_is_stderr() else "all"
    with stop_on_signals(trainer):
        code = trainer.run()
    if dist.enabled:
        leave_rank(code)
    return code


NOT_STARTED = "interrupted before training started; nothing was saved"


def resolve_config(
    target: str | None, preset: str | None, overrides: dict[str, Any], resume: Path | None
) -> tuple[RunConfig, dict[str, str]]:
    """The config the command line names, after its first checks, and where each key was set
    (`load_config_with_sources`). A single process and the `run --nproc` launcher both start
    here, so that both refuse the same command the same way."""
    if resume is not None:
        if target or preset:
            named = f"--preset {preset}" if preset else repr(target)
            raise CnntuiError(
                f"--resume continues a run with its own model and config; drop {named}", 2
            )
        return RunConfig(), {}  # replaced by the checkpoint's config in setup()
    if not target and not preset:
        raise CnntuiError("name a preset or model to run, e.g. `cnntui run lenet`", 2)
    return load_config_with_sources(target or "", preset, overrides)


def stop_when_reader_gone(trainer: Any) -> OnGone:
    """What a reporter calls when stdout's reader has left (`--json | head -1`): the run stops
    as on Ctrl-C (last.pt, summary.json, exit 130) instead of failing on the training thread.
    A stdout whose file is full (`--headless > run.log`) is no reader leaving: the run stops
    the same way, then fails (exit 1) with the reason, said once when it ends, as a run
    directory on a full disk is."""

    def stop(error: OSError | None) -> None:
        if error is not None and error.errno in DISK_FULL:
            trainer.stop_and_fail(write_error(Path("stdout"), error))
            return
        tell_stopping(
            "cnntui: stdout can no longer be written (its reader exited or the terminal closed)"
        )
        trainer.request_stop(reason="stdout closed")

    return stop


def tell_stopping(cause: str) -> None:
    """Say on stderr why the run stops, and that it stops cleanly: a headless run takes a batch
    and a checkpoint's write to end, which should not look like a hang to whoever stopped it."""
    tell(f"{cause}: finishing the batch, saving last.pt ...")


def leave_rank(code: int) -> None:
    """End a rank of a data-parallel run with its code, skipping the interpreter's teardown.

    After a finished run, a rank's native teardown in torch sometimes aborts ("terminate called
    without an active exception", SIGABRT: 1 of 24 two-rank runs on a 2-core machine). The
    launcher then reports a killed rank and stops the others, although every file of the run
    was already written. By this point the trainer has closed the run log and left the process
    group; only buffered output is left to flush."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def wants_dashboard(headless: bool, json_output: bool) -> bool:
    """A terminal on both ends, and no request for lines instead."""
    return not (headless or json_output) and sys.stdout.isatty() and sys.stdin.isatty()


def set_up_off_the_main_thread(trainer: Any) -> None:
    """`trainer.setup()` in a thread that ends with it, for a run that trains in another thread.

    Setting up runs parallel CPU ops (data, weights, the layout timing), and with libgomp a
    thread that ran one keeps its OpenMP team for life. With the main thread's team alive beside
    the training thread's, libgomp counts more threads than cores and stops spin-waiting between
    ops: LeNet on 2 cores trained at 6,400 ex/s after a main-thread setup against 10,000 after a
    setup in a thread that had exited (the same as setup and training in one thread).
    """
    failure: list[BaseException] = []
    finished = threading.Event()
    # A Ctrl-C inside thread.start() leaves the main thread unable to tell whether the thread
    # exists, or will run. So the two agree under this lock on which came first: the thread
    # beginning the setup (which the main thread then waits for) or the main thread giving up
    # on it (and the thread, if it runs at all, returns without touching torch).
    claim = threading.Lock()
    began = cancelled = False

    def set_up() -> None:
        nonlocal began
        try:
            with claim:
                if cancelled:
                    return
                began = True
            trainer.setup()
        except BaseException as exc:
            failure.append(exc)
        finally:
            finished.set()

    thread = threading.Thread(target=set_up, name="cnntui-setup", daemon=True)
    try:
        thread.start()  # in the try: start() can be interrupted once the thread exists
        wait_interruptibly(finished)
    except KeyboardInterrupt:
        # Ctrl-C reaches the main thread only. A setup that began goes on to its end, so that
        # the caller can discard the run directory it creates. This waits on an event, not on
        # the thread: Python 3.11's Thread.join, interrupted, can mark a running thread as
        # stopped, and the next join then returns at once. The interpreter was then torn down
        # under a setup thread still inside torch, which aborts the process when that thread
        # wakes ("terminate called without an active exception", exit 134 instead of 130).
        try:
            with claim:
                cancelled = not began
            if began:
                wait_interruptibly(finished)
        except KeyboardInterrupt:
            leave_during_setup()
        raise
    thread.join()
    if failure:
        raise failure[0]


def wait_interruptibly(event: threading.Event) -> None:
    """`event.wait()` that a Ctrl-C always interrupts.

    CPython can lose the wake-up: a SIGINT that lands after the main thread has released the GIL
    but before it blocks in the lock's futex only marks the signal as pending, and a wait without
    a timeout then sleeps until the event is set (a second Ctrl-C during the set-up did nothing,
    about 1 time in 20 on a loaded machine). Waking every 100 ms runs any pending handler."""
    while not event.wait(SIGNAL_POLL_S):
        pass


@contextlib.contextmanager
def terminations_as_ctrl_c() -> Iterator[None]:
    """Until training starts, SIGTERM and SIGHUP end the run as Ctrl-C does (a message, exit
    130) instead of killing the process without a word; from then on `stop_on_signals` (or the
    dashboard) handles all three."""
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name) and not started_ignoring(getattr(signal, name)):
            sig = getattr(signal, name)
            previous[sig] = signal.signal(sig, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def started_ignoring(sig: int) -> bool:
    """Whether this process was started with `sig` ignored, which is kept: `nohup` ignores
    SIGHUP so that a run outlives its SSH session, and a script's `cmd &` ignores SIGINT so
    that its Ctrl-C leaves the job alone. Handlers put over them stopped the run at either."""
    return signal.getsignal(sig) == signal.SIG_IGN


def leave_during_setup() -> None:
    """A second Ctrl-C while the set-up runs: leave now, without the interpreter's teardown,
    which would abort with the setup thread inside torch. The run directory is made at the end
    of the set-up, so there is none to leave behind yet."""
    print("cnntui: interrupted during set-up; nothing was saved", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(EXIT_INTERRUPTED)


def after_echoed_ctrl_c() -> str:
    """A line break on a terminal, where the ^C it echoed (or a progress bar) ends the current
    line; none in a log file (`2> err.log`), whose first line would otherwise be blank."""
    try:
        return "\n" if sys.stderr.isatty() else ""
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return ""


# What a SIGINT means to the ranks of a launch that alone signals them: the dashboard of
# `run --nproc` sends one when its viewer leaves, by a `q` or by a SIGINT of its own, and first
# writes which into the file this names. A file, read at the signal: the run said "SIGINT" for
# a `q`, and a fixed cause in the environment said "quit from the dashboard" for a `kill -INT`.
SIGINT_CAUSE_ENV = "CNNTUI_SIGINT_CAUSE_FILE"


def sigint_cause() -> str | None:
    """Why the launcher says it sent this rank's SIGINT; None when it said nothing."""
    path = os.environ.get(SIGINT_CAUSE_ENV)
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except (OSError, ValueError):
        return None


class stop_on_signals:
    """SIGINT, SIGTERM and SIGHUP finish the batch, save last.pt and exit 130. A SIGINT or
    SIGTERM after one of those two means it: it stops at once, without saving."""

    SIGNALS = tuple(
        getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
    )
    HANGUP = getattr(signal, "SIGHUP", None)

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.previous: dict[int, Any] = {}
        self.signalled = False

    def __enter__(self) -> stop_on_signals:
        for sig in self.SIGNALS:
            if not started_ignoring(sig):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signalled and signum != self.HANGUP:
            # A second signal: the user means it. Restore the default and re-deliver. Only a
            # signal counts: a dropped SSH session fails a write (the run stops, "stdout
            # closed") and sends SIGHUP in the same instant, and that pair is one cause, not
            # someone insisting. Nor is a hang-up ever insisting; it would cost last.pt.
            signal.signal(signum, self.previous.get(signum, signal.SIG_DFL))
            tell(f"{after_echoed_ctrl_c()}{name} again: stopping at once, without saving last.pt")
            raise KeyboardInterrupt(name)  # the trainer ends the run's log and summary with it
        if signum != self.HANGUP:
            self.signalled = True
        rank = launched_rank()
        if rank is not None and signum == signal.SIGINT:
            name = sigint_cause() or name
        if rank is None or os.environ.get("LOCAL_RANK", "0") == "0":
            # In a data-parallel run every rank of a machine gets the signal (from the terminal,
            # or from the launcher passing it on): one line per machine, from its first rank.
            # Under torchrun on several nodes, each node's terminal still gets its own.
            tell_stopping(f"{after_echoed_ctrl_c()}{name}")
        self.trainer.request_stop(reason=name)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if self.HANGUP is not None:
            # The run is over and saved: a hang-up from here to the exit (the SSH session that
            # just dropped) would turn the exit code into a kill by SIGHUP.
            signal.signal(self.HANGUP, signal.SIG_IGN)
