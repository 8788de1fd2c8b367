"""`cnntui run --nproc N` whose set-up fails: said once, with a single process's exit code, and
nothing left behind; and the refusals a single process makes before its set-up, made before
anything is launched. (Failures of a started run: test_launch_failures.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cnntui_command import LAUNCH_TIMEOUT, ROOT, cnntui

from cnntui.runlog import RUN_FILES

SYNTHETIC = "synthetic:1x28x28:10:train=64:test=64"


@pytest.mark.parametrize(
    "flags",
    [
        ("--dataset", "mnist", "--data-dir", "/nonexistent/cnntui-data"),
        ("--dataset", SYNTHETIC, "--opt", "bogus=1"),
    ],
    ids=["data-dir", "model-option"],
)
def test_a_set_up_error_is_said_once_and_leaves_no_run_directory(tmp_path, flags) -> None:
    """Every rank printed it, the launcher sometimes added "rank 1 exited with code 2", and the
    run directory the launcher had made was left empty under --runs-root."""
    runs = tmp_path / "runs"
    common = ("run", "lenet", *flags, "--device", "cpu", "--runs-root", runs)
    single = cnntui(*common, "--headless")
    assert single.returncode == 2
    (line,) = single.stderr.splitlines()
    assert line.startswith("cnntui: error: ")
    assert not runs.exists()

    launched = cnntui(*common, "--nproc", "2", "--headless")
    assert (launched.returncode, launched.stderr) == (2, single.stderr)
    assert not runs.exists()


def test_a_set_up_error_only_the_ranks_find_leaves_a_runs_root_that_was_there_as_it_was(
    tmp_path,
) -> None:
    """The launcher's run directory was left empty in it. A failure only the ranks find (the
    model's own error), so that the launch has planned and made the run directory first."""
    runs = tmp_path / "runs"
    runs.mkdir()
    model = tmp_path / "net.py"
    model.write_text(
        "def net(in_channels=1, num_classes=10):\n    raise ValueError('no net here')\n"
    )
    launched = cnntui(
        *("run", f"{model}:net", "--dataset", SYNTHETIC, "--device", "cpu"),
        *("--runs-root", runs, "--nproc", "2", "--headless"),
    )
    assert launched.returncode == 2, launched.stderr
    assert launched.stderr.endswith("ValueError: no net here\n")
    assert list(runs.iterdir()) == []


def test_an_unstarted_launch_removes_what_it_made_and_no_more(tmp_path) -> None:
    """plan_run_dir makes the run directory before any rank starts; discard_unstarted takes it
    away again, up to the folder the launch made, and keeps what was there or was started."""
    from cnntui.config import RunConfig
    from cnntui.launch_plan import discard_unstarted, plan_run_dir
    from cnntui.runlog import LAUNCH_LOG

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "older-run").mkdir()
    config = RunConfig(model="lenet", runs_root=str(runs))
    run_dir, made = plan_run_dir(config, None, {})
    assert (run_dir.parent, made) == (runs, run_dir) and run_dir.is_dir()
    (run_dir / LAUNCH_LOG).write_text("the dashboard's launcher wrote here\n")
    discard_unstarted(run_dir, made, launch_log=True)
    assert [p.name for p in runs.iterdir()] == ["older-run"]

    # A runs root the launch made goes with it; one that a run was started in stays whole.
    fresh = tmp_path / "new" / "runs"
    run_dir, made = plan_run_dir(RunConfig(model="lenet", runs_root=str(fresh)), None, {})
    assert made == tmp_path / "new"
    discard_unstarted(run_dir, made, launch_log=False)
    assert list(tmp_path.iterdir()) == [runs]
    run_dir, made = plan_run_dir(config, None, {})
    (run_dir / "events.jsonl").write_text("")
    discard_unstarted(run_dir, made, launch_log=False)
    assert (run_dir / "events.jsonl").is_file()


def test_on_a_terminal_the_set_up_error_is_the_launch_logs_one_line_and_nothing_stays(
    tmp_path,
) -> None:
    """The dashboard's launcher wrote launch.log into the run directory it had made; both
    stayed after the launch failed."""
    runs = tmp_path / "runs"
    out = cnntui(
        *("run", "lenet", "--dataset", "mnist", "--data-dir", "/nonexistent/cnntui-data"),
        *("--device", "cpu", "--runs-root", runs, "--nproc", "2"),
        terminal=True,
    )
    assert out.returncode == 2
    error = "cnntui: error: --data-dir /nonexistent/cnntui-data is not a directory"
    assert out.stderr.count("cnntui: error:") == 1
    assert out.stderr.endswith(f"its log:\n{error}\n")
    assert not runs.exists()


@pytest.mark.parametrize("failing_rank", [0, 1])
def test_the_set_up_error_of_the_first_rank_to_fail_is_said_once(tmp_path, failing_rank) -> None:
    """One rank fails in set-up while the other is still setting up, and the launcher stops it:
    that rank said "interrupted before training started", and with rank 1 failing first, the
    launcher added "rank 1 exited with code 2; stopped all 2 ranks" and no `failed` line came."""
    model = tmp_path / "net.py"
    model.write_text(
        "import os, time\n"
        "def net(in_channels=1, num_classes=10):\n"
        f"    if os.environ['RANK'] == '{failing_rank}':\n"
        f"        raise ValueError('rank {failing_rank} cannot build it')\n"
        "    time.sleep(600)  # until the launcher stops this rank\n"
    )
    out = cnntui(
        *("run", f"{model}:net", "--dataset", SYNTHETIC, "--device", "cpu"),
        *("--runs-root", tmp_path / "runs", "--nproc", "2", "--json"),
    )
    assert out.returncode == 2
    error = f"building the model from {model}:net failed: ValueError: rank {failing_rank} cannot"
    assert out.stderr == f"cnntui: error: {error} build it\n"
    # A script reading the lines gets the `failed` line rank 0 writes, from the launcher when
    # rank 0 was stopped first.
    (line,) = out.stdout.splitlines()
    failed = json.loads(line)
    assert (failed["event"], failed["error"], failed["exit_code"]) == (
        "failed",
        f"{error} build it",
        2,
    )
    assert not (tmp_path / "runs").exists()


# A model with no trainable parameter, which DDP refuses in every rank with an exception that
# cnntui does not word.
FROZEN_MODEL = (
    "import torch.nn as nn\n"
    "def net(in_channels=1, num_classes=10):\n"
    "    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, num_classes))\n"
    "    return model.requires_grad_(False)\n"
)


def test_an_unexpected_set_up_exception_is_one_traceback(tmp_path) -> None:
    """A model with no trainable parameter: every rank's DDP refuses it, an exception cnntui
    does not word. Each rank printed its traceback, every line behind "[rankN]: ", and with
    rank 1 first the launcher added "rank 1 exited with code 1; stopped all 2 ranks"."""
    model = tmp_path / "frozen.py"
    model.write_text(FROZEN_MODEL)
    out = cnntui(
        *("run", f"{model}:net", "--dataset", SYNTHETIC, "--device", "cpu"),
        *("--runs-root", tmp_path / "runs", "--nproc", "2", "--json"),
    )
    assert out.returncode == 1, out.stderr
    error = "RuntimeError: DistributedDataParallel is not needed when a module doesn't have any"
    trace, _, rest = out.stderr.partition(f"{error} parameter that requires a gradient.\n")
    assert trace.startswith("Traceback (most recent call last):\n") and "[rank" not in trace
    assert trace.count("Traceback") == 1 and "in wrap_ddp" in trace
    # Both ranks got there, or the launcher stopped one first.
    assert rest in ("", "cnntui: 2 of 2 ranks failed the same way\n")
    (line,) = out.stdout.splitlines()  # rank 0's `failed` line, or the launcher's for it
    failed = json.loads(line)
    assert (failed["event"], failed["exit_code"]) == ("failed", 1)
    said = out.stderr[: len(out.stderr) - len(rest)]
    assert failed["error"].startswith(error) and failed["traceback"] == said
    assert not (tmp_path / "runs").exists()


def test_on_a_terminal_the_unexpected_exception_is_the_whole_traceback(tmp_path) -> None:
    """After the dashboard closed, the launcher printed launch.log's last 20 lines: the top of
    a longer traceback, where it entered cnntui, was cut off."""
    model = tmp_path / "frozen.py"
    model.write_text(FROZEN_MODEL)
    out = cnntui(
        *("run", f"{model}:net", "--dataset", SYNTHETIC, "--device", "cpu"),
        *("--runs-root", tmp_path / "runs", "--nproc", "2"),
        terminal=True,
    )
    assert out.returncode == 1, out.stderr
    _, _, log = out.stderr.partition("cnntui: the launch ended with exit code 1; its log:\n")
    assert log.startswith("Traceback (most recent call last):\n"), out.stderr
    assert log.count("Traceback") == 1 and "cnntui/cli.py" in log and "in wrap_ddp" in log
    assert "RuntimeError: DistributedDataParallel is not needed" in log


def test_the_launch_log_excerpt_keeps_a_traceback_whole() -> None:
    from cnntui.launch_failure import launch_log_excerpt

    noise = [f"line {i}" for i in range(300)]
    trace = ["Traceback (most recent call last):", *[f"  frame {i}" for i in range(40)], "E: x"]
    assert launch_log_excerpt("\n".join([*noise, *trace, "after"])) == "\n".join([*trace, "after"])
    assert launch_log_excerpt("\n".join(noise)) == "\n".join(noise[-20:])
    # One too far back to be this failure's (a log of hundreds of lines since): the tail.
    far = [*trace, *noise]
    assert launch_log_excerpt("\n".join(far)) == "\n".join(noise[-20:])
    # An earlier traceback of the same launch (a warning's, a handled error's) is not how it
    # failed: the excerpt starts at the last one, not 200 lines up.
    earlier = ["Traceback (most recent call last):", "  warned here", "UserWarning: w"]
    log = [*noise[:150], *earlier, *noise[150:190], *trace, "after"]
    assert launch_log_excerpt("\n".join(log)) == "\n".join([*trace, "after"])
    # A traceback chained to the last one, by either line Python puts between them, is the
    # same failure's: whole, from the first of the chain.
    cause = ["Traceback (most recent call last):", "  frame c", "KeyError: 'k'"]
    for link in (
        "During handling of the above exception, another exception occurred:",
        "The above exception was the direct cause of the following exception:",
    ):
        chain = [*cause, "", link, "", *cause, "", link, "", *trace]
        log = [*noise[:150], *earlier, *noise[150:160], *chain, "after"]
        assert launch_log_excerpt("\n".join(log)) == "\n".join([*chain, "after"])


def test_the_launch_log_excerpt_shows_the_traceback_of_the_rank_the_launcher_blames() -> None:
    """Rank 1 crashed in training, then rank 0's collective lost it: rank 0's traceback came
    last, and the excerpt showed it (the last lines) instead of the cause. The log as a real
    launch writes it: torch's hook puts "[rankN]: " before each line of a rank's traceback,
    not before the blank ones, and the launcher's line blaming rank 1 ends it."""
    from cnntui.launch_failure import launch_log_excerpt

    cause = [
        "[rank1]: Traceback (most recent call last):",
        '[rank1]:   File "/work/cnntui/engine/loop.py", line 210, in run_epoch',
        "[rank1]:     batch = next(batches)",
        "[rank1]: ValueError: a bad sample",
        "",
        "[rank1]: The above exception was the direct cause of the following exception:",
        "",
        "[rank1]: Traceback (most recent call last):",
        '[rank1]:   File "/work/cnntui/engine/trainer.py", line 190, in run',
        "[rank1]:     code = loop.run()",
        "[rank1]: RuntimeError: rank 1 crashed",
    ]
    peer = [
        "[rank0]: Traceback (most recent call last):",
        '[rank0]:   File "/work/cnntui/engine/step.py", line 80, in step',
        "[rank0]:     loss.backward()",
        *[f"[rank0]:   frame {i}" for i in range(20)],
        "[rank0]: RuntimeError: [../gloo/transport/tcp/pair.cc:561] Connection closed by peer",
    ]
    blame = "cnntui: error: rank 1 (pid 5413) exited with code 1; stopped all 2 ranks"
    start = ["cnntui: rank 0 of 2 on cpu", "epoch 1/3 step 10 loss 2.30"]
    log = [*start, *cause, *peer, blame]
    assert launch_log_excerpt("\n".join(log)) == "\n".join([*cause, blame])
    # Written at once, the ranks' lines mix: the cause's are kept, whole, the peer's left out.
    mixed = [*start, *cause[:5], peer[0], *cause[5:9], *peer[1:5], *cause[9:], *peer[5:], blame]
    assert launch_log_excerpt("\n".join(mixed)) == "\n".join([*cause, blame])
    # A blamed rank that left no traceback (killed by a signal), or no line blaming one: as
    # before, the last lines (these tracebacks are prefixed), or the last unprefixed traceback.
    killed = [*start, *peer, blame.replace("exited with code 1", "was killed by SIGKILL")]
    assert launch_log_excerpt("\n".join(killed)) == "\n".join(killed[-20:])
    unblamed = [*start, *cause, *peer]
    assert launch_log_excerpt("\n".join(unblamed)) == "\n".join(unblamed[-20:])


class RankFailure:
    """What the launcher reads of torch's ProcessFailure: a rank that recorded `trace` in its
    error file, or that failed otherwise."""

    def __init__(self, exitcode: int, trace: str | None = None, signal: str = "") -> None:
        self.exitcode, self.timestamp, self.pid, self._signal = exitcode, 10, 42, signal
        self.message = "RuntimeError: boom"
        record = {"message": self.message, "cnntui_setup": {"rank": 0, "traceback": trace}}
        self.error_file_data = {} if trace is None else record

    def signal_name(self) -> str:
        return self._signal


def test_the_launcher_says_a_recorded_traceback_once_with_how_many_ranks_met_it(capsys) -> None:
    """Which ranks recorded a traceback depends on how soon the launcher stopped the others,
    which a real launch cannot choose."""
    from cnntui.launch_failure import say_failed_launch

    trace = "Traceback (most recent call last):\n  ...\nRuntimeError: boom\n"
    other = trace.replace("boom", "bang")
    # Rank 0 printed its own: the launcher adds how many failed the same way.
    failures = {0: RankFailure(1, trace), 1: RankFailure(1, other), 2: RankFailure(1, trace)}
    assert say_failed_launch({**failures, 3: RankFailure(1, trace)}, 4, False) == 1
    assert capsys.readouterr().err == "cnntui: 3 of 4 ranks failed the same way\n"
    # Rank 0 was stopped before it got there: rank 1's, as rank 0 would have said it.
    assert say_failed_launch({0: RankFailure(130), 1: RankFailure(1, trace)}, 2, False) == 1
    assert capsys.readouterr().err == trace
    # A rank killed by a signal is the cause: its peer's exception may only say it lost it.
    failures = {0: RankFailure(1, trace), 1: RankFailure(-9, signal="SIGKILL")}
    assert say_failed_launch(failures, 2, False) == 1
    killed = "cnntui: error: rank 1 (pid 42) was killed by SIGKILL; stopped all 2 ranks\n"
    assert capsys.readouterr().err == killed


def test_a_resume_naming_a_model_is_refused_before_the_launch(tmp_path) -> None:
    """resolve_config's "drop TARGET" check ran only in the ranks: each refused it."""
    run_dir = tmp_path / "run"
    first = cnntui(
        *("run", "mlp", "--dataset", SYNTHETIC, "-b", "64", "--epochs", "1", "--device", "cpu"),
        *("--headless", "--run-dir", run_dir),
    )
    assert first.returncode == 0, first.stderr
    files = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    for named in (("mlp",), ("--preset", "lenet")):
        args = ("run", *named, "--resume", run_dir, "--epochs", "2", "--headless")
        single = cnntui(*args)
        assert single.returncode == 2
        assert "--resume continues a run with its own model and config; drop" in single.stderr
        launched = cnntui(*args, "--nproc", "2")
        assert (launched.returncode, launched.stderr) == (2, single.stderr)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == files


def test_a_run_still_training_is_refused_before_the_launch_writes_into_it(tmp_path) -> None:
    """Only rank 0 refused it, at the end of its set-up; on a terminal the launcher had written
    launch.log into the live run's directory first."""
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "WORLD_SIZE"}
    live = subprocess.Popen(
        [
            *(sys.executable, "-m", "cnntui", "run", "lenet", "--dataset", SYNTHETIC, "-b", "64"),
            *("--epochs", "100000", "--device", "cpu", "--headless", "--run-dir", str(run_dir)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while not (run_dir / "last.pt").exists():  # the end of its first epoch
            assert live.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)

        # The live run goes on writing its own files (best.pt, a checkpoint's hidden temp
        # file): what the refused launch must not add is anything else, launch.log above all.
        def not_the_runs(folder: Path) -> list[str]:
            return sorted(
                p.name for p in folder.iterdir() if p.name not in RUN_FILES and p.name[0] != "."
            )

        assert not_the_runs(run_dir) == []
        error = f"cnntui: error: {run_dir} is in use: another cnntui process is still training"
        for terminal in (False, True):
            out = cnntui(
                "run", "--resume", run_dir, "--nproc", "2", *(() if terminal else ("--headless",)),
                terminal=terminal,
            )  # fmt: skip
            assert out.returncode == 2
            assert out.stderr.startswith(error) and len(out.stderr.splitlines()) == 1
            assert not_the_runs(run_dir) == []
        assert live.poll() is None
    finally:
        live.send_signal(signal.SIGINT)
        try:
            live.wait(60)
        except subprocess.TimeoutExpired:
            live.kill()
            live.wait(30)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_while_rank_0_says_its_set_up_error_does_not_stop_it_recording_it(
    tmp_path, sig
) -> None:
    """The signals were blocked for the main thread alone: the launcher's SIGTERM went to
    another thread and killed the rank (-15) between its saying the error and recording it, so
    the launcher said it again; a SIGINT still raised KeyboardInterrupt."""
    error_file = tmp_path / "error.json"
    script = (
        "import os, signal, sys, threading, time\n"
        "from cnntui.errors import CnntuiError\n"
        "from cnntui.rank_setup_failure import leave_on_set_up_failure\n"
        "threading.Thread(target=threading.Event().wait, daemon=True).start()\n"
        "class Saying:  # the signal arrives while rank 0 says the error\n"
        "    def write(self, text):\n"
        f"        os.kill(os.getpid(), signal.{sig})\n"
        "        time.sleep(0.3)\n"
        "        return sys.__stderr__.write(text)\n"
        "    def flush(self):\n"
        "        sys.__stderr__.flush()\n"
        "sys.stderr = Saying()\n"
        "leave_on_set_up_failure(CnntuiError('bad --data-dir', 2), json_output=False)\n"
    )
    env = {
        **os.environ,
        "WORLD_SIZE": "2",
        "RANK": "0",
        "TORCHELASTIC_ERROR_FILE": str(error_file),
    }
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stderr) == (2, "cnntui: error: bad --data-dir\n")
    recorded = json.loads(error_file.read_text())
    assert recorded["message"] == "bad --data-dir" and recorded["cnntui_setup"] == {"rank": 0}


def test_a_rank_that_will_not_stop_is_said_and_the_set_up_error_still_wins(tmp_path) -> None:
    """Rank 1's set-up error, and rank 0 still setting up and deaf to the launcher's SIGTERM,
    killed after the shutdown timeout: the launch was blamed on rank 0's SIGKILL ("rank 0 ...
    was killed by SIGKILL", exit 1), and torch's line saying it would not stop was hidden with
    its others."""
    model = tmp_path / "net.py"
    ready = tmp_path / "rank0-deaf"
    model.write_text(
        "import os, pathlib, signal, time\n"
        "def net(in_channels=1, num_classes=10):\n"
        f"    ready = pathlib.Path({str(ready)!r})\n"
        "    if os.environ['RANK'] == '0':\n"
        "        for sig in (signal.SIGTERM, signal.SIGINT):\n"
        "            signal.signal(sig, signal.SIG_IGN)\n"
        "        ready.touch()\n"
        "        time.sleep(600)  # until the launcher kills this rank\n"
        "    while not ready.exists():\n"
        "        time.sleep(0.05)\n"
        "    raise ValueError('rank 1 cannot build it')\n"
    )
    out = cnntui(
        *("run", f"{model}:net", "--dataset", SYNTHETIC, "--device", "cpu"),
        *("--runs-root", tmp_path / "runs", "--nproc", "2", "--json"),
    )
    error = f"building the model from {model}:net failed: ValueError: rank 1 cannot build it"
    assert out.returncode == 2, out.stderr
    assert out.stderr.endswith(f"cnntui: error: {error}\n")
    # Torch's own line, as it says it ("via 15, forcefully exiting via 9"), and no other.
    torch_line, _ = out.stderr.splitlines()
    assert "Unable to shutdown process" in torch_line and "forcefully exiting via" in torch_line
    (line,) = out.stdout.splitlines()
    assert json.loads(line)["error"] == error


def test_a_launch_every_rank_stopped_is_an_interruption_rank_0_has_said(capsys) -> None:
    """Rank 0 stopped the run (its stdout closed under `| head`, a SIGTERM sent to rank 1) and
    every rank exited 130: the launcher added "cnntui: error: rank 0 (pid 42) exited with code
    130; stopped all 2 ranks" to rank 0's own account of the stop."""
    from cnntui.launch_failure import say_failed_launch

    assert say_failed_launch({0: RankFailure(130), 1: RankFailure(130)}, 2, False) == 130
    # A rank still stopping when rank 0 left was ended by the launcher's SIGTERM.
    stopping = {0: RankFailure(130), 1: RankFailure(-15, signal="SIGTERM")}
    assert say_failed_launch(stopping, 2, False) == 130
    assert capsys.readouterr().err == ""
    # A rank that failed is still named.
    assert say_failed_launch({0: RankFailure(130), 1: RankFailure(2)}, 2, False) == 2
    assert capsys.readouterr().err.startswith("cnntui: error: rank 1 (pid 42) exited with code 2")
