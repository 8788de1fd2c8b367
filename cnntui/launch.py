"""`cnntui run MODEL --nproc N`: N local data-parallel workers under torch's elastic launcher.

The launcher is the process `torchrun` runs: it starts the ranks (`python -m cnntui run ...
--headless`), watches them, and ends them all as soon as one fails (no restarts). Rank 0 writes the
run directory; on a terminal the launching process shows the dashboard on that directory, as
`cnntui watch` would, while a headless launcher process (a child, so that the elastic agent owns its
main thread and signals) runs the workers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnntui.errors import EXIT_ERROR, EXIT_INTERRUPTED, UsageError
from cnntui.rank_setup_failure import set_up_message, set_up_traceback
from cnntui.runlog import LAUNCH_LOG, make_dir

# How long a stopping rank may take to finish its batch and save last.pt before it is killed:
# torch's own variable, which torchrun reads too, so that a launch under either waits as long.
SHUTDOWN_TIMEOUT_ENV = "TORCH_ELASTIC_SHUTDOWN_TIMEOUT"
DEFAULT_SHUTDOWN_TIMEOUT_S = 30


def shutdown_timeout() -> int:
    """Seconds a rank asked to stop gets before it is killed: TORCH_ELASTIC_SHUTDOWN_TIMEOUT,
    else 30. A model whose last.pt takes longer to write needs more, or loses the save."""
    value = os.environ.get(SHUTDOWN_TIMEOUT_ENV, "").strip()
    if not value:
        return DEFAULT_SHUTDOWN_TIMEOUT_S
    if not value.isdigit():
        raise UsageError(f"{SHUTDOWN_TIMEOUT_ENV} must be a whole number of seconds, got {value!r}")
    return int(value)


def worker_args(
    target: str | None,
    preset: str | None,
    overrides: dict[str, Any],
    resume: Path | None,
    json_output: bool,
) -> list[str]:
    """The `cnntui run` arguments every rank gets: the same run, headless."""
    args = ["run"]
    if target:
        args.append(target)
    if preset:
        args += ["--preset", preset]
    if resume is not None:
        args += ["--resume", str(resume)]
    for key, value in overrides.items():
        if key == "model_options":
            for option, option_value in value.items():
                args += ["--opt", f"{option}={option_value}"]
        else:
            args += ["--set", f"{key}={value}"]
    args.append("--json" if json_output else "--headless")
    return args


def launch_command(
    nproc: int,
    target: str | None,
    preset: str | None,
    overrides: dict[str, Any],
    resume: Path | None,
    headless: bool,
    json_output: bool,
    exit_on_finish: bool = False,
) -> int:
    """The `run --nproc` entry: the dashboard over a headless launcher child, or just launch."""
    from cnntui.launch_plan import discard_unstarted, plan_run_dir
    from cnntui.run_command import resolve_config

    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    shutdown_timeout()  # a bad value is refused before anything is made or started
    # A single process's first checks, in its order: what every rank would refuse otherwise.
    config = resolve_config(target, preset, overrides, resume)
    overrides = dict(overrides)
    run_dir, made = plan_run_dir(config, resume, overrides)
    if resume is None:
        overrides["run_dir"] = str(run_dir)
    use_dashboard = not (headless or json_output) and sys.stdout.isatty() and sys.stdin.isatty()
    try:
        if use_dashboard:
            return launch_with_dashboard(
                nproc, target, preset, overrides, resume, run_dir, exit_on_finish
            )
        args = worker_args(target, preset, overrides, resume, json_output)
        return launch(nproc, args, json_output=json_output)
    finally:
        discard_unstarted(run_dir, made, launch_log=use_dashboard)


def launch(
    nproc: int, args: list[str], log_dir: Path | None = None, json_output: bool = False
) -> int:
    """Run `python -m cnntui ARGS` as `nproc` ranks on this machine; the run's exit code. With
    `json_output` (ARGS has --json), a set-up error that rank 0 could not report is written as
    its `failed` line."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if "LOGLEVEL" not in os.environ:
        quiet_torch_repeats()
    if nproc > 1 and "OMP_NUM_THREADS" not in os.environ:
        # N ranks each using every core would fight over them.
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    logs_specs = None
    if log_dir is not None:
        from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs, Std

        logs_specs = DefaultLogsSpecs(log_dir=str(log_dir), redirects=Std.ALL)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"cnntui-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.2,
        logs_specs=logs_specs,
        shutdown_timeout=shutdown_timeout(),
    )
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "cnntui", *args)
    except ChildFailedError as exc:
        return say_failed_launch(exc.failures, nproc, json_output)
    except SignalException as exc:
        print(f"cnntui: {exc.sigval.name}: stopped all {nproc} ranks", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def launch_with_dashboard(
    nproc: int,
    target: str | None,
    preset: str | None,
    overrides: dict[str, Any],
    resume: Path | None,
    run_dir: Path,
    exit_on_finish: bool = False,
) -> int:
    """Show the dashboard on rank 0's run directory while a launcher child runs the ranks;
    with `exit_on_finish` it closes when they are done, as a single process's dashboard does."""
    from cnntui.tui.app import Dashboard
    from cnntui.tui.sources import FileSource

    make_dir(run_dir, "--run-dir")
    args = worker_args(target, preset, overrides, resume, json_output=False)
    command = [sys.executable, "-m", "cnntui", *args, "--nproc", str(nproc)]
    with open(run_dir / LAUNCH_LOG, "ab") as log:
        this_launch_from = log.tell()  # a resumed run's launch.log holds earlier launches too
        # Its own session: a Ctrl-C in the dashboard reaches the ranks only through us.
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    app = Dashboard(FileSource(run_dir), watch_path=run_dir, handle_signals=True, launcher=True)

    def tell_when_done() -> None:
        code = child.wait()
        message = "all ranks finished" if code == 0 else f"the launch ended with exit code {code}"
        with contextlib.suppress(Exception):  # the dashboard may have closed already
            app.call_from_thread(app.notify, message, severity="error" if code else "information")
            if exit_on_finish:
                app.call_from_thread(app.exit)

    threading.Thread(target=tell_when_done, name="cnntui-launch", daemon=True).start()
    try:
        app.run()
    except KeyboardInterrupt:
        pass
    finally:
        if child.poll() is None:
            # The viewer left early: every rank finishes its batch, rank 0 saves last.pt.
            child.send_signal(signal.SIGINT)
            try:
                child.wait(shutdown_timeout() + 30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    code = child.returncode
    if code not in (0, EXIT_INTERRUPTED):
        print(f"cnntui: the launch ended with exit code {code}; its log:", file=sys.stderr)
        with open(run_dir / LAUNCH_LOG, "rb") as log:
            log.seek(this_launch_from)
            print(launch_log_excerpt(log.read().decode(errors="replace")), file=sys.stderr)
    return code


def launch_log_excerpt(text: str, most: int = 200, tail: int = 20) -> str:
    """What the terminal keeps of a failed launch's log once the dashboard has closed: from its
    first traceback on, whole (the ranks' set-up error, said once, and what follows it), if that
    is within the last `most` lines; otherwise the last `tail` lines. The last 20 alone cut a
    traceback's top frames off."""
    lines = text.splitlines()[-most:]
    start = next((i for i, line in enumerate(lines) if line.startswith("Traceback (")), None)
    return "\n".join(lines[start:] if start is not None else lines[-tail:])


def say_failed_launch(failures: dict[int, Any], nproc: int, json_output: bool) -> int:
    """Say once why the ranks failed (torch's ProcessFailure by rank), unless a rank said it;
    the launch's exit code. With `json_output`, a set-up failure that rank 0 could not report
    is written as its `failed` line."""
    from cnntui.headless import write_failed_json

    set_up = first_recorded(failures, set_up_message)
    if set_up is not None:
        # Every rank sets up the same run and fails the same way, and the ranks that did not
        # were stopped (or killed) by that: the error wins over how they ended.
        rank, failure, message = set_up
        if rank != 0:  # rank 0, stopped before it could say its own, has said nothing
            if json_output:  # rank 0's `failed` line, which a script waits for
                write_failed_json(message, failure.exitcode)
            print(f"cnntui: error: {message}", file=sys.stderr, flush=True)
        return failure.exitcode
    rank, failure = root_failure(failures)
    code = failure.exitcode
    # An unexpected exception in set-up (a bug, an error cnntui does not word), unless a rank
    # was killed: its peers' exceptions may only say that they lost it.
    crash = first_recorded(failures, set_up_traceback) if code > 0 else None
    if crash is not None:
        rank, failure, trace = crash
        if rank != 0:  # as for a set-up error: rank 0, stopped first, has said nothing
            if json_output:
                write_failed_json(failure.message, failure.exitcode, trace)
            sys.stderr.write(trace)
        same = sum(set_up_traceback(other) == trace for other in failures.values())
        if same > 1:
            print(f"cnntui: {same} of {nproc} ranks failed the same way", file=sys.stderr)
        sys.stderr.flush()
        return failure.exitcode
    if rank == 0 and code > 0 and code != EXIT_INTERRUPTED:
        # Rank 0 has said why on stderr, as a single process would (its run's error, or a
        # traceback), and the others only stopped with it: a second line adds nothing.
        return code
    how = f"was killed by {failure.signal_name()}" if code < 0 else f"exited with code {code}"
    print(
        f"cnntui: error: rank {rank} (pid {failure.pid}) {how}; stopped all {nproc} ranks",
        file=sys.stderr,
        flush=True,
    )
    return code if code > 0 else EXIT_ERROR


def first_recorded(
    failures: dict[int, Any], read: Callable[[Any], str | None]
) -> tuple[int, Any, str] | None:
    """What `read` finds that a failed rank recorded of its set-up failure: rank 0's when it
    recorded one (it has said it then), else the lowest rank's, as (rank, failure, what); None
    when no rank recorded one."""
    for rank in sorted(failures):
        found = read(failures[rank])
        if found is not None:
            return rank, failures[rank], found
    return None


# What torch's elastic launcher logs that the ranks and `launch` say already, in cnntui's words:
# "failed (exitcode: 1) local_rank: 0 (pid: 42) of binary: ...", and "Sending process 42
# closing signal SIGTERM" when it stops the others; its agent's "Received 2 death signal,
# shutting down workers" on a Ctrl-C (or SIGTERM), which `launch` says as "SIGINT: stopped all
# N ranks". It also says when a rank would not stop ("Unable to shutdown process 42 via
# SIGTERM, forcefully exiting via SIGKILL": that rank never saved last.pt), or could not be
# killed; those stay. By torch's logger: its launcher's, and its agent's.
TORCH_REPEATS = {
    "torch.distributed.elastic.multiprocessing.api": (
        "failed (exitcode: ",
        "Sending process %s closing signal ",
    ),
    "torch.distributed.elastic.agent.server.api": ("Received %s death signal",),
}


class _TorchRepeats(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def quiet_torch_repeats() -> None:
    """Leave out of torch's launcher log the lines that repeat what cnntui says."""
    for name, prefixes in TORCH_REPEATS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _TorchRepeats) for f in logger.filters):
            logger.addFilter(_TorchRepeats(prefixes))


def root_failure(failures: dict[int, Any]) -> tuple[int, Any]:
    """The rank to blame: of the first kind there is, the one torch saw fail first, and of
    those the lowest rank. Torch's time of a failure is a whole second, the one its error file
    says or, for a rank that wrote none, the one the launcher saw it end in: ranks of one kind
    mostly share it, and then the lowest rank is blamed. The kinds:

    1. killed by a signal (SIGKILL, SIGABRT): its peers fail only after it, when a collective
       breaks, and a rank that exits fast can be seen before the killed one it lost;
    2. failed with a code of its own (1, 2, 3);
    3. stopped (130) or killed by the launcher's own SIGTERM: what the others do once one
       rank stops. When rank 0 fails (a run directory it cannot write), the other ranks stop
       with it at the next step and, having no files to write, often exit first."""

    def rank_key(item: tuple[int, Any]) -> tuple[int, float, int]:
        rank, failure = item
        code = failure.exitcode
        if code < 0:
            kind = 3 if failure.signal_name() == "SIGTERM" else 1
        else:
            kind = 3 if code == EXIT_INTERRUPTED else 2
        return (kind, failure.timestamp, rank)

    return min(failures.items(), key=rank_key)
