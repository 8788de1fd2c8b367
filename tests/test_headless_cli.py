"""`cnntui run` headless through the real command: output forms, exit codes and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SYNTHETIC = "synthetic:1x28x28:10:train=1024:test=256"


def cnntui(*args: str, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("timeout", 300)  # a hung run fails the test instead of hanging the suite
    return subprocess.run(
        [sys.executable, "-m", "cnntui", *args], capture_output=True, text=True, **kwargs
    )


def test_json_lines_are_the_only_thing_on_stdout(tmp_path) -> None:
    out = cnntui(
        "run", "lenet", "--dataset", SYNTHETIC, "--epochs", "1", "--json",
        "--run-dir", str(tmp_path / "run"), "--set", "log_interval=0.01",
        "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    assert {"step", "epoch", "evaluation", "checkpoint"} <= set(kinds)
    # A warning is one of the lines, for the script (plain lines put it on stderr instead).
    warnings = [e["message"] for e in events if e["event"] == "log" and e["level"] == "warning"]
    assert warnings == [
        f"--data-dir {tmp_path} is not used: {SYNTHETIC} data is generated, not read"
    ]
    assert out.stderr == ""
    data = events[0]["data"]
    assert (data["source"], data["train_examples"], data["test_examples"]) == (
        "generated",
        1024,
        256,
    )
    logged = [
        json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()
    ]
    # The run log's lines, less its heartbeats: they are watch's, and say each long phase.
    assert [e["event"] for e in logged if e["event"] != "heartbeat"] == kinds
    phases = dict.fromkeys(e["phase"] for e in logged if e["event"] == "heartbeat")
    assert list(phases) == ["first step", "evaluating test", "saving best.pt", "saving last.pt"]


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One epoch told in plain lines into a pipe, given a --data-dir that generated data does not
    read: made once for the tests that read its lines or its run (each run is seconds of torch's
    start-up). The folder that holds --data-dir `mine` and the run directory `run`."""
    folder = tmp_path_factory.mktemp("plain")
    (folder / "mine").mkdir()
    out = cnntui("run", "lenet", "--dataset", SYNTHETIC, "--epochs", "1", "--data-dir",
                 str(folder / "mine"), "--run-dir", str(folder / "run"))  # fmt: skip
    return folder, out


def test_plain_lines_in_a_pipe_have_no_ansi_codes(plain_run) -> None:
    _, out = plain_run
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\x1b" not in out.stderr
    assert "epoch 1/1 | train loss" in out.stdout
    assert out.stdout.rstrip().splitlines()[-1].startswith("finished after 4 steps")  # 1,024 / 256


def test_a_data_dir_the_run_does_not_read_is_a_warning_on_stderr(plain_run) -> None:
    # It was a `warning: ...` line on stdout, lost from sight by `--headless > run.log` and
    # mixed into the progress lines a script reads.
    folder, out = plain_run
    assert out.returncode == 0, out.stderr
    warning = f"--data-dir {folder / 'mine'} is not used: {SYNTHETIC} data is generated, not read"
    assert out.stderr.splitlines() == [f"cnntui: warning: {warning}"]
    assert "warning" not in out.stdout


def test_missing_data_set_is_one_message_and_exit_1(tmp_path) -> None:
    env = {**os.environ, "CNNTUI_OFFLINE": "1", "HOME": str(tmp_path), "XDG_CACHE_HOME": ""}
    (tmp_path / "nothing").mkdir()
    out = cnntui("run", "mlp-mnist", "--data-dir", str(tmp_path / "nothing"), "--runs-root",
                 str(tmp_path / "runs"), env=env)  # fmt: skip
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert str(tmp_path / "nothing") in out.stderr


@pytest.mark.parametrize(
    ("args", "error", "code"),
    [
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0", 2),
        (["--opt", "no_such_option=1"], "no_such_option", 2),
        # Refused by the command's first checks, before any reporter: no line was written.
        (["--set", "epochs"], "--set expects KEY=VALUE, got 'epochs'", 2),
        (["--resume", "no-such-run"], "--resume no-such-run: no such run directory", 2),
        (["--nproc", "0"], "--nproc must be at least 1, got 0", 2),
        (["--nproc", "2", "--epochs", "0"], "--epochs must be at least 1, got 0", 2),
        # Refused while the command line is parsed, before any of cnntui's code runs.
        (["--epochs", "abc"], "Invalid value for '--epochs'", 2),
        (["--no-such-flag"], "No such option: --no-such-flag", 2),
    ],
    ids=[
        "bad-flag",
        "bad-model-option",
        "bad-set",
        "bad-resume",
        "bad-nproc",
        "nproc-bad-flag",
        "unparsed-value",
        "unknown-flag",
    ],
)
def test_a_json_run_that_fails_to_start_ends_with_a_failed_line(
    tmp_path, args: list[str], error: str, code: int
) -> None:
    """Scripts read the outcome from the lines: a run that never started says so there too."""
    out = cnntui("run", "lenet", "--dataset", SYNTHETIC, "--json", "--runs-root",
                 str(tmp_path / "runs"), *args)  # fmt: skip
    assert out.returncode == code
    [line] = out.stdout.splitlines()
    failed = json.loads(line)
    assert (failed["event"], failed["step"], failed["exit_code"]) == ("failed", 0, code)
    assert error in failed["error"] and error in out.stderr
    assert not (tmp_path / "runs").exists()


def test_a_json_run_that_diverges_says_so_on_stderr_too(tmp_path) -> None:
    """`--json > events.jsonl` leaves a person only stderr and the exit code to read."""
    out = cnntui("run", "lenet", "--dataset", SYNTHETIC, "-o", "activation=relu", "--lr", "1e10",
                 "--epochs", "1", "--json", "--run-dir", str(tmp_path / "run"))  # fmt: skip
    assert out.returncode == 3, out.stderr
    last = json.loads(out.stdout.splitlines()[-1])
    assert (last["event"], last["status"]) == ("finished", "diverged")
    assert f"cnntui: diverged: {last['message']}" in out.stderr
    assert last["message"].startswith("loss became ")  # nan or inf


def test_bad_flag_value_is_a_usage_error() -> None:
    out = cnntui("run", "lenet", "--epochs", "0", "--headless")
    assert out.returncode == 2
    assert "epochs must be at least 1" in out.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_finish_the_batch_save_and_exit_130(tmp_path, sig: signal.Signals) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnntui", "run", "lenet", "--dataset", SYNTHETIC, "--epochs",
         "1000", "--json", "--run-dir", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    # Bounded: a run that hangs before its first step is killed, which ends the read at EOF.
    watchdog = threading.Timer(300, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:  # wait until training is under way
            if json.loads(line)["event"] == "step":
                break
        else:
            pytest.fail("the run ended, or hung for 300 s, before its first step")
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    finished = json.loads(rest.splitlines()[-1])
    assert (finished["status"], finished["message"]) == ("interrupted", sig.name)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["exit_code"] == 130
    assert summary["message"] == sig.name  # why it stopped, for the script that reads it
    assert (run_dir / "last.pt").exists()


def test_eval_prints_accuracy_and_the_confusion_matrix(tmp_path, plain_run) -> None:
    folder, first = plain_run
    assert first.returncode == 0, first.stderr
    run_dir = folder / "run"
    out = cnntui("eval", str(run_dir / "last.pt"), "--json", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["data_source"] == "generated"
    assert f"cnntui: warning: --data-dir {tmp_path} is not used" in out.stderr
    assert len(report["confusion"]) == 10 and sum(map(sum, report["confusion"])) == 256
    assert 0 <= report["test_accuracy"] <= 1
    table = cnntui("eval", str(run_dir), "--device", "cpu")
    assert "confusion matrix" in table.stdout and "class 9" in table.stdout
    # A run directory is read through its last.pt: the report names the file it evaluated.
    by_run = json.loads(cnntui("eval", str(run_dir), "--json").stdout)
    assert by_run["checkpoint"] == str(run_dir / "last.pt")
    # `--data-dir "$DIR"` with DIR unset: refused, not read as the run's own data folder.
    empty = cnntui("eval", str(run_dir), "--data-dir", "")
    assert empty.returncode == 2
    assert empty.stderr.strip() == (
        "cnntui: error: --data-dir is empty; name a folder, or leave it out for the default"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["run", "--resume", "", "--headless"], "--resume is empty"),
        (["run", "--resume", "", "--json"], "--resume is empty"),
        (["eval", ""], "CHECKPOINT is empty"),
        (["watch", ""], "RUN_DIR is empty"),
        (["watch", "--runs-root", ""], "--runs-root is empty"),
    ],
)
def test_an_empty_path_is_refused_not_read_as_the_current_directory(
    plain_run, args: list[str], error: str
) -> None:
    """`cnntui run --resume "$RUN"` with RUN unset, typed inside a run directory: "" would be
    Path("."), and that run would be resumed (or evaluated, or watched) without being named."""
    folder, first = plain_run
    assert first.returncode == 0, first.stderr
    run_dir = folder / "run"
    events_before = (run_dir / "events.jsonl").read_bytes()
    out = cnntui(*args, cwd=run_dir)
    assert out.returncode == 2
    assert out.stderr.startswith(f"cnntui: error: {error}; name ")
    assert (run_dir / "events.jsonl").read_bytes() == events_before


def test_a_checkpoint_cannot_run_code(tmp_path) -> None:
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    import pickle

    evil.write_bytes(pickle.dumps({"model": Payload()}))
    out = cnntui("eval", str(evil))
    assert out.returncode == 2 and not marker.exists()
    assert "is not a cnntui checkpoint" in out.stderr and "weights_only" not in out.stderr


def test_resume_from_the_command_line(tmp_path) -> None:
    run_dir = tmp_path / "run"
    first = cnntui("run", "lenet", "--dataset", SYNTHETIC, "--epochs", "10", "--max-steps", "20",
                   "--headless", "--run-dir", str(run_dir))  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = cnntui("run", "--resume", str(run_dir), "--max-steps", "32", "--headless")
    assert second.returncode == 0, second.stderr
    assert "resuming at step 20" in second.stdout
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 32
