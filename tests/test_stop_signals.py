"""Signals during a headless run: which ones stop it cleanly, and which one means "now"."""

from __future__ import annotations

import signal
import sys

import pytest

from cnntui.engine.control import Controls
from cnntui.run_command import stop_on_signals


class StoppableRun:
    """What stop_on_signals needs of a trainer: its controls and request_stop."""

    def __init__(self) -> None:
        self.controls = Controls()

    def request_stop(self, reason: str) -> None:
        self.controls.request_stop(reason)


@pytest.fixture
def saved_handlers():
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    before = {name: signal.getsignal(getattr(signal, name)) for name in names}
    yield
    for name, handler in before.items():
        signal.signal(getattr(signal, name), handler)


def test_a_hang_up_beside_a_closed_stdout_is_one_cause_not_a_second_signal(
    saved_handlers,
) -> None:
    """A dropped SSH session fails the next write (the run stops: "stdout closed") and sends
    SIGHUP in the same instant. Taken for a second signal, the hang-up aborted the run without
    last.pt or summary.json."""
    run = StoppableRun()
    with stop_on_signals(run):
        run.request_stop("stdout closed")  # what the reporter does when a write fails
        signal.raise_signal(signal.SIGHUP)
        signal.raise_signal(signal.SIGHUP)  # nor does a hang-up ever insist
        assert run.controls.stop_reason == "stdout closed"
        signal.raise_signal(signal.SIGTERM)  # the first signal that can insist: still clean
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # the second: now
    assert run.controls.stop_reason == "stdout closed"


def test_a_second_ctrl_c_stops_at_once(saved_handlers) -> None:
    run = StoppableRun()
    with stop_on_signals(run):
        signal.raise_signal(signal.SIGINT)
        assert run.controls.stop_requested.is_set() and run.controls.stop_reason == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)


def test_the_second_signal_is_said_and_carried_to_the_trainer(saved_handlers, capsys) -> None:
    """It names itself in the KeyboardInterrupt, for the summary's message (the trainer's)."""
    with stop_on_signals(StoppableRun()):
        signal.raise_signal(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt) as second:
            signal.raise_signal(signal.SIGINT)
    assert second.value.args == ("SIGINT",)
    assert capsys.readouterr().err.splitlines()[-1] == (
        "SIGINT again: stopping at once, without saving last.pt"
    )


def test_a_hang_up_after_the_run_does_not_kill_the_process(saved_handlers) -> None:
    """Everything is saved by then; killed by SIGHUP on its way out, the process would report
    a kill instead of the run's exit code."""
    interrupt = signal.getsignal(signal.SIGINT)
    with stop_on_signals(StoppableRun()):
        pass
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is interrupt  # the others are as they were


@pytest.mark.parametrize(
    ("terminal", "start"), [(False, ""), (True, "\n")], ids=["log file", "terminal"]
)
def test_the_stopping_line_breaks_the_line_on_a_terminal_only(
    terminal, start, saved_handlers, capsys, monkeypatch
) -> None:
    # On a terminal the line starts after the ^C it echoed (or a progress bar's line); a
    # `2> err.log` (or a batch system's stderr file) began with an empty line from that break.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    with stop_on_signals(StoppableRun()):
        signal.raise_signal(signal.SIGTERM)
    assert capsys.readouterr().err == f"{start}SIGTERM: finishing the batch, saving last.pt ...\n"


def test_a_ranks_sigint_is_what_its_launcher_says_it_means(
    saved_handlers, monkeypatch, tmp_path
) -> None:
    """The dashboard of `run --nproc` stops its ranks with a SIGINT when the viewer quits: the
    run's summary said "SIGINT" where a single process says "quit from the dashboard". Said
    when it is sent: a `kill -INT` of the dashboard was called a quit from it, too."""
    from cnntui.run_command import SIGINT_CAUSE_ENV

    cause = tmp_path / "cause"
    cause.write_text("quit from the dashboard")
    monkeypatch.setenv(SIGINT_CAUSE_ENV, str(cause))
    single = StoppableRun()
    with stop_on_signals(single):
        signal.raise_signal(signal.SIGINT)  # a single process's Ctrl-C is one
    assert single.controls.stop_reason == "SIGINT"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    rank = StoppableRun()
    with stop_on_signals(rank):
        signal.raise_signal(signal.SIGINT)
    assert rank.controls.stop_reason == "quit from the dashboard"
    other = StoppableRun()
    with stop_on_signals(other):
        signal.raise_signal(signal.SIGTERM)  # passed on as it came
    assert other.controls.stop_reason == "SIGTERM"
    cause.write_text("")  # a SIGINT the launcher did not send (kill -INT of a rank)
    unsaid = StoppableRun()
    with stop_on_signals(unsaid):
        signal.raise_signal(signal.SIGINT)
    assert unsaid.controls.stop_reason == "SIGINT"


class SignalledChild:
    """What stop_launch needs of the launcher's child process."""

    def __init__(self) -> None:
        self.signals: list[str] = []

    def send_signal(self, sig: int) -> None:
        self.signals.append(signal.Signals(sig).name)

    def wait(self, timeout: float | None = None) -> int:
        return 130


@pytest.mark.parametrize(
    ("reason", "sent", "said"),
    [
        ("quit from the dashboard", "SIGINT", "quit from the dashboard"),
        ("SIGINT", "SIGINT", "SIGINT"),  # a kill -INT of the dashboard: no quit from it
        ("the dashboard closed", "SIGINT", "the dashboard closed"),
        ("SIGTERM", "SIGTERM", ""),
    ],
)
def test_the_launchs_dashboard_tells_its_ranks_why_it_stopped_them(
    tmp_path, reason, sent, said
) -> None:
    from cnntui.launch import stop_launch

    cause = tmp_path / "cause"
    cause.write_text("")
    child = SignalledChild()
    stop_launch(child, reason, cause)  # type: ignore[arg-type]
    assert (child.signals, cause.read_text()) == ([sent], said)


def test_a_signal_the_run_was_started_ignoring_stays_ignored(saved_handlers) -> None:
    """`nohup cnntui run ... &` is how a run outlives its SSH session, and `cmd &` in a script
    starts it with SIGINT ignored: both stopped the run at the hang-up (or the script's
    Ctrl-C), as the run put its own handlers over the ignored signals."""
    from cnntui.run_command import terminations_as_ctrl_c

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with terminations_as_ctrl_c():
            signal.raise_signal(signal.SIGHUP)
    except KeyboardInterrupt:
        pytest.fail("an ignored SIGHUP stopped the set-up")
    run = StoppableRun()
    with stop_on_signals(run):
        signal.raise_signal(signal.SIGHUP)
        signal.raise_signal(signal.SIGINT)
        assert not run.controls.stop_requested.is_set()
        signal.raise_signal(signal.SIGTERM)  # not ignored: still stops the run
        assert run.controls.stop_reason == "SIGTERM"
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_the_launcher_of_ranks_leaves_an_ignored_hang_up_ignored(
    saved_handlers, monkeypatch
) -> None:
    """`nohup cnntui run --nproc 2 ... &`: torch's launcher caught SIGHUP and stopped the ranks
    at the hang-up ('SIGHUP: stopped all 2 ranks')."""
    from torch.distributed.launcher.api import LaunchConfig

    from cnntui.launch import signals_to_handle

    monkeypatch.delenv("TORCHELASTIC_SIGNALS_TO_HANDLE", raising=False)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    assert signals_to_handle(LaunchConfig) == {"signals_to_handle": "SIGTERM,SIGINT,SIGQUIT"}
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    assert signals_to_handle(LaunchConfig)["signals_to_handle"] == "SIGTERM,SIGINT,SIGHUP,SIGQUIT"
    monkeypatch.setenv("TORCHELASTIC_SIGNALS_TO_HANDLE", "SIGTERM")  # the user's choice stands
    assert signals_to_handle(LaunchConfig) == {"signals_to_handle": "SIGTERM"}
