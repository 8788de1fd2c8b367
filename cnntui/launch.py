"""`cnntui run MODEL --nproc N`: N local data-parallel workers under torch's elastic launcher.

The launcher is the process `torchrun` runs: it starts the ranks (`python -m cnntui run ...
--headless`), watches them, and ends them all as soon as one fails (no restarts). Rank 0 writes the
run directory; on a terminal the launching process shows the dashboard on that directory, as
`cnntui watch` would, while a headless launcher process (a child, so that the elastic agent owns its
main thread and signals) runs the workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from cnntui.errors import EXIT_INTERRUPTED, UsageError
from cnntui.launch_failure import launch_log_excerpt, say_failed_launch
from cnntui.run_dirs import make_dir
from cnntui.runlog import EVENTS_FILE, LAUNCH_LOG, EventReader
from cnntui.torch_launcher_log import quiet_torch_repeats

# How long a stopping rank may take to finish its batch and save last.pt before it is killed:
# torch's own variable, which torchrun reads too, so that a launch under either waits as long.
SHUTDOWN_TIMEOUT_ENV = "TORCH_ELASTIC_SHUTDOWN_TIMEOUT"
DEFAULT_SHUTDOWN_TIMEOUT_S = 30
# The signals that stopped the launcher's dashboard that its ranks are sent in turn, so that
# the run's summary names them as a single process's does.
FORWARDED = {name: getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)}
# Why the ranks stop when the dashboard went without a `q` or a signal (a crash): a single
# process's dashboard tells its trainer the same.
DASHBOARD_CLOSED = "the dashboard closed"


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
    from cnntui.headless import failed_line_on_error
    from cnntui.launch_plan import discard_unstarted, plan_run_dir
    from cnntui.run_command import resolve_config

    with failed_line_on_error(json_output):  # no rank is there yet to write it
        if nproc < 1:
            raise UsageError(f"--nproc must be at least 1, got {nproc}")
        shutdown_timeout()  # a bad value is refused before anything is made or started
        # A single process's first checks, in its order: what every rank would refuse otherwise.
        config, _ = resolve_config(target, preset, overrides, resume)
        overrides = dict(overrides)
        run_dir, made = plan_run_dir(config, resume, overrides)
    if resume is None:
        overrides["run_dir"] = str(run_dir)
        # The root has been used: the run's folder is made under it, and the ranks are told that
        # folder itself (both together are refused as the user's words).
        overrides.pop("runs_root", None)
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
        **signals_to_handle(LaunchConfig),
    )
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "cnntui", *args)
    except ChildFailedError as exc:
        return say_failed_launch(exc.failures, nproc, json_output)
    except SignalException as exc:
        print(f"cnntui: {exc.sigval.name}: stopped all {nproc} ranks", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def torch_launcher_signals() -> str:
    """The signals torch's launcher catches to stop the ranks: its own list (or the one the
    user set), less those this process was started ignoring. `nohup` ignores SIGHUP so that
    the run outlives its SSH session, and the ranks inherit it ignored (started_ignoring)."""
    from cnntui.run_command import started_ignoring

    if "TORCHELASTIC_SIGNALS_TO_HANDLE" in os.environ:
        return os.environ["TORCHELASTIC_SIGNALS_TO_HANDLE"]
    names = [n for n in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT") if hasattr(signal, n)]
    return ",".join(n for n in names if not started_ignoring(getattr(signal, n)))


def signals_to_handle(launch_config: type) -> dict[str, Any]:
    """LaunchConfig's argument for them, where this torch has it (it sets the variable)."""
    if "signals_to_handle" not in getattr(launch_config, "__dataclass_fields__", {}):
        return {}
    return {"signals_to_handle": torch_launcher_signals()}


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
    from cnntui.run_command import SIGINT_CAUSE_ENV
    from cnntui.tui.app import Dashboard
    from cnntui.tui.outcome import NOTHING_SAVED
    from cnntui.tui.sources import FileSource

    make_dir(run_dir, "--run-dir")
    events = run_dir / EVENTS_FILE
    # A resumed run's events.jsonl and launch.log hold its earlier launches too.
    this_run_from = events.stat().st_size if events.exists() else 0
    args = worker_args(target, preset, overrides, resume, json_output=False)
    command = [sys.executable, "-m", "cnntui", *args, "--nproc", str(nproc)]
    # Why the ranks get their SIGINT, written when they are sent it (see stop_launch).
    cause_fd, cause_path = tempfile.mkstemp(prefix="cnntui-sigint-cause-")
    os.close(cause_fd)
    cause_file = Path(cause_path)
    try:
        with open(run_dir / LAUNCH_LOG, "ab") as log:
            this_launch_from = log.tell()
            # Its own session: a Ctrl-C in the dashboard reaches the ranks only through us.
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, SIGINT_CAUSE_ENV: cause_path},
            )
        app = Dashboard(FileSource(run_dir), watch_path=run_dir, handle_signals=True, launcher=True)

        def tell_when_done() -> None:
            code = child.wait()
            done = "all ranks finished" if code == 0 else f"the launch ended with exit code {code}"
            with contextlib.suppress(Exception):  # the dashboard may have closed already
                app.call_from_thread(app.notify, done, severity="error" if code else "information")
                if exit_on_finish:
                    app.call_from_thread(app.exit)

        threading.Thread(target=tell_when_done, name="cnntui-launch", daemon=True).start()
        outside_sigint = False
        try:
            app.run()
        except KeyboardInterrupt:  # a SIGINT before the dashboard's handlers, or after them
            outside_sigint = True
        finally:
            if child.poll() is None:
                # The viewer left early: every rank finishes its batch, rank 0 saves last.pt.
                reason = app.stop_reason or ("SIGINT" if outside_sigint else DASHBOARD_CLOSED)
                stop_launch(child, reason, cause_file)
    finally:
        cause_file.unlink(missing_ok=True)
    code = child.returncode
    if code in (0, EXIT_INTERRUPTED):
        # What a single process's dashboard leaves on the terminal: the dashboard drew on the
        # alternate screen, and without it the terminal showed nothing of the run once it closed.
        # A failed launch's log says how it ended instead, rank 0's failed line included.
        print(outcome_line(events, this_run_from) or NOTHING_SAVED, file=sys.stderr)
    else:
        print(f"cnntui: the launch ended with exit code {code}; its log:", file=sys.stderr)
        with open(run_dir / LAUNCH_LOG, "rb") as written:
            written.seek(this_launch_from)
            print(launch_log_excerpt(written.read().decode(errors="replace")), file=sys.stderr)
    return code


def stop_launch(child: subprocess.Popen[bytes], reason: str, cause_file: Path) -> None:
    """Stop the launch for `reason`, the dashboard's: a SIGTERM or SIGHUP is passed on as it
    came, anything else (a `q`, a SIGINT) as a SIGINT that the ranks name by `cause_file`, as a
    single process's summary names its stop. Killed if it takes past the shutdown timeout."""
    sig = FORWARDED.get(reason)
    if sig is None:
        with contextlib.suppress(OSError):  # unsaid, the ranks' SIGINT still stops them
            cause_file.write_text(reason, encoding="utf-8")
        sig = signal.SIGINT
    child.send_signal(sig)
    try:
        child.wait(shutdown_timeout() + 30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def outcome_line(events: Path, offset: int) -> str | None:
    """How the run in `events` (its events.jsonl) from `offset` on ended, and where its
    directory is, as the dashboard of a single process leaves it; None when it did not end
    there (it never started)."""
    from cnntui.tui.outcome import RunOutcome

    outcome = RunOutcome()
    for event in EventReader(events, offset).poll():
        outcome(event)
    return outcome.line()
