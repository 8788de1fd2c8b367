"""Data-parallel runs: two CPU ranks (gloo) launched by `cnntui run --nproc 2`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from cnntui.config import load_config
from cnntui.data.loader import DeviceLoader
from cnntui.data.transforms import BatchTransform
from cnntui.engine.checkpoint import load_checkpoint
from cnntui.engine.distributed import context_from_env
from cnntui.engine.trainer import Trainer
from cnntui.runlog import read_events

DATASET = "synthetic:1x28x28:10:train=1024:test=256"
ROOT = Path(__file__).resolve().parents[1]
LAUNCH_TIMEOUT = 240  # two torch imports and a rendezvous on a busy 2-core machine


def settings(**extra: object) -> dict[str, object]:
    return {
        "dataset": DATASET,
        "device": "cpu",
        "batch_size": 64,
        "seed": 3,
        "channels_last": False,  # a timed choice: keep both runs on the same kernels
        **extra,
    }


def cli_args(values: dict[str, object]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def launch(
    model: str, values: dict[str, object], nproc: int = 2, env: dict | None = None, **popen
) -> subprocess.Popen:
    env = {**os.environ, "CNNTUI_DIST_TIMEOUT": "30", **(env or {})}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "cnntui", "run", model, *cli_args(values)]
    command += ["--headless", "--nproc", str(nproc)]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), so a test can check none is left behind."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def rank_of(pid: int) -> int | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return None


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_single_process_is_not_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not context_from_env().enabled
    ctx = context_from_env({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})
    assert (ctx.enabled, ctx.rank, ctx.world_size, ctx.is_main) == (True, 2, 4, False)


def test_shards_split_every_global_batch_into_equal_parts():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    labels = torch.arange(10)

    def loader(rank: int, world: int) -> DeviceLoader:
        load = DeviceLoader(
            images,
            labels,
            batch_size=4,
            transform=BatchTransform(mean=(0.0,), std=(1.0,)),
            shuffle=True,
            seed=5,
        )
        load.shard(rank, world)
        load.set_epoch(1)
        return load

    whole = [y.tolist() for _, y in loader(0, 1)]
    parts = [[y.tolist() for _, y in loader(rank, 2)] for rank in range(2)]
    # 10 examples, batch 4: 4 + 4 + a last batch of 2, one example for each rank.
    assert len(loader(0, 2)) == len(loader(1, 2)) == 3
    for b, batch in enumerate(whole):
        assert parts[0][b] + parts[1][b] == batch
        assert len(parts[0][b]) == len(parts[1][b])
    # Four ranks: the last batch (2 examples) cannot give each rank one, so it is left out.
    assert len(loader(0, 4)) == 2
    with pytest.raises(ValueError, match="smaller than"):
        loader(0, 5)
    # Three: a share of 1 each left one example of every batch untrained, in silence, and the
    # run said "global batch 4 (1 per rank)".
    with pytest.raises(ValueError, match=r"over 3 ranks: 1 each would leave 1 of every batch"):
        loader(0, 3)


def test_two_ranks_train_the_weights_one_process_trains(tmp_path):
    values = settings(epochs=2, runs_root=str(tmp_path / "runs"))
    proc = launch("lenet", values)
    out, err = proc.communicate(timeout=LAUNCH_TIMEOUT)
    assert proc.returncode == 0, err
    (run_dir,) = (tmp_path / "runs").iterdir()  # one run directory: rank 0's

    single = Trainer(
        load_config("lenet", None, settings(epochs=2, run_dir=str(tmp_path / "single")))
    )
    assert single.run() == 0

    dist_state = load_checkpoint(run_dir)
    single_state = load_checkpoint(tmp_path / "single")
    assert dist_state["step"] == single_state["step"] == 32
    for name, tensor in single_state["model"].items():
        torch.testing.assert_close(
            dist_state["model"][name], tensor, rtol=1e-4, atol=1e-5, msg=name
        )

    events = read_events(run_dir)
    started = [e for e in events if e.kind == "run_started"]
    assert len(started) == 1 and started[0].world_size == 2
    assert started[0].batch_size == 64 and started[0].steps_per_epoch == 16
    steps = [e for e in events if e.kind == "step"]
    assert steps[-1].examples == 2 * 1024  # global: both ranks' examples
    assert any("global batch 64 (32 per rank)" in getattr(e, "message", "") for e in events)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["examples"] == 2048
    assert out.count("run directory:") == 1  # only rank 0 reports
    assert "x 16 steps of 64 on 2 ranks" in out


def test_a_killed_rank_ends_the_run_with_a_message(tmp_path):
    run_dir = tmp_path / "run"
    proc = launch("mlp", settings(epochs=10_000, run_dir=str(run_dir)))
    try:
        wait_for(lambda: (run_dir / "last.pt").exists(), LAUNCH_TIMEOUT, "the first last.pt")
        workers = {rank_of(pid): pid for pid in descendants(proc.pid)}
        victim = workers[1]
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode not in (0, None)
    assert "rank 1" in err and "SIGKILL" in err
    assert not [pid for pid in workers.values() if alive(pid)]
    state = load_checkpoint(run_dir)  # intact: written atomically at an epoch end
    assert state["step"] > 0 and state["step"] % 16 == 0


def test_a_rank_that_fails_mid_run_is_the_runs_error_not_the_connection_its_peer_lost(
    tmp_path,
) -> None:
    """Rank 1's forward raised: rank 0's collective broke, and rank 0 (summary.json, its failed
    line, stderr) said gloo's "Connection closed by peer ... GLHF!", rank 1's error only in
    rank 1's own stderr line."""
    model = tmp_path / "flaky.py"
    model.write_text(
        "import os\n"
        "import torch.nn as nn\n"
        "class Flaky(nn.Sequential):\n"
        "    steps = 0\n"
        "    def forward(self, x):\n"
        # Not the set-up's forward of 2 examples that checks what a model returns while training.
        "        Flaky.steps += self.training and len(x) > 2\n"
        "        if os.environ['RANK'] == '1' and Flaky.steps == 20:\n"
        "            raise ValueError('no more steps on rank 1')\n"
        "        return super().forward(x)\n"
        "def net(in_channels=1, num_classes=10):\n"
        "    return Flaky(nn.Flatten(), nn.Linear(28 * 28, num_classes))\n"
    )
    run_dir = tmp_path / "run"
    proc = launch(f"{model}:net", settings(epochs=3, run_dir=str(run_dir)))
    out, err = proc.communicate(timeout=LAUNCH_TIMEOUT)
    assert proc.returncode == 1, err
    cause = "rank 1 failed: ValueError: no more steps on rank 1"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["message"]) == ("failed", cause)
    assert out.splitlines()[-1] == f"failed at step 19: {cause}"
    # Said once on stderr, by the rank that failed.
    assert err == "cnntui: rank 1: error: ValueError: no more steps on rank 1\n"
    # Rank 0's traceback (the dashboard's log shows it) was where it lost the connection.
    (failed,) = [e for e in read_events(run_dir) if e.kind == "failed"]
    assert failed.traceback == ""


def test_only_a_lost_peer_is_blamed_on_a_peers_recorded_failure() -> None:
    """A rank's own error (a bug in its model) that coincides with a peer's failure stays its
    own; only a collective broken by the peer's exit is replaced by the peer's error."""
    import torch.distributed as dist

    from cnntui.engine.distributed import lost_a_peer

    gloo = "[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer"
    assert lost_a_peer(RuntimeError(gloo + " [127.0.0.1]:41413"))
    assert lost_a_peer(dist.DistNetworkError("the store went away"))
    assert not lost_a_peer(ValueError("bad batch"))
    assert not lost_a_peer(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_a_ranks_recorded_failure_is_found_by_its_peers_alone(monkeypatch) -> None:
    from torch.distributed import HashStore

    from cnntui.engine.distributed import DistContext, peer_failure, record_failure

    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    store = HashStore()
    ranks = [DistContext(rank=r, world_size=3) for r in range(3)]
    assert peer_failure(ranks[0], store) is None
    record_failure(ranks[2], "ValueError: bad batch", store)
    assert peer_failure(ranks[0], store) == (2, "ValueError: bad batch")
    assert peer_failure(ranks[2], store) is None  # its own is no peer's
    record_failure(ranks[1], "RuntimeError: boom", store)
    assert peer_failure(ranks[0], store) == (1, "RuntimeError: boom")  # the lowest rank


class RecordingStore:
    """A store that records what is asked of it; `check` waits on `answer` when given one."""

    def __init__(self, answer: threading.Event | None = None) -> None:
        self.calls: list[str] = []
        self.answer = answer

    def set(self, key: str, value: str) -> None:
        self.calls.append(f"set {key}")

    def check(self, keys: list[str]) -> bool:
        self.calls.append(f"check {keys[0]}")
        if self.answer is not None:
            self.answer.wait()
        return False


@pytest.mark.parametrize("agent", [None, "False", "True"])
def test_only_a_store_the_launchers_agent_hosts_holds_failures(monkeypatch, agent) -> None:
    """A store rank 0 hosts (an env:// launch outside torch's elastic agent) is gone with
    rank 0: asking it for rank 0's error printed TCPStore's warnings, or waited on it."""
    from cnntui.engine.distributed import DistContext, peer_failure, record_failure

    if agent is None:
        monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    else:
        monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", agent)
    store = RecordingStore()
    rank1 = DistContext(rank=1, world_size=2)
    record_failure(rank1, "ValueError: bad batch", store)
    assert peer_failure(rank1, store) is None
    expected = ["set cnntui/failure/1", "check cnntui/failure/0"] if agent == "True" else []
    assert store.calls == expected


def test_a_store_that_stops_answering_does_not_hang_the_failure_report(monkeypatch) -> None:
    """A store host that stops answering leaves TCPStore's `check` waiting on its socket for
    good, whatever the store's timeout: the report falls back to the rank's own error."""
    from cnntui.engine import distributed

    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    monkeypatch.setattr(distributed, "STORE_TIMEOUT_S", 0.2)
    answer = threading.Event()
    hang_ends = threading.Timer(10, answer.set)  # a hang ends, and the test fails
    hang_ends.daemon = True
    hang_ends.start()
    rank1 = distributed.DistContext(rank=1, world_size=2)
    try:
        started = time.monotonic()
        assert distributed.peer_failure(rank1, RecordingStore(answer)) is None
        assert time.monotonic() - started < 2
    finally:
        hang_ends.cancel()
        answer.set()


@pytest.mark.parametrize("log_interval", [0.1, 30], ids=["reads in an epoch", "one at its end"])
def test_sigint_stops_every_rank_and_saves_last(tmp_path, log_interval):
    """Ranks agree on a stop at the reads of their metrics, which rank 0 spaces by its speed
    (log_interval's worth of steps). An epoch of fewer steps (16 here) has one read, at its
    end, and an agreed stop was acted on only inside an epoch: the ranks trained on after the
    SIGINT until the launcher killed them, leaving no summary.json."""
    run_dir = tmp_path / "run"
    proc = launch("mlp", settings(epochs=10_000, run_dir=str(run_dir), log_interval=log_interval))
    try:
        wait_for(lambda: (run_dir / "last.pt").exists(), LAUNCH_TIMEOUT, "the first last.pt")
        workers = [pid for pid in descendants(proc.pid) if rank_of(pid) is not None]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    # Said once, in cnntui's words: torch's "Received 2 death signal, shutting down workers"
    # came before it.
    assert err.endswith("cnntui: SIGINT: stopped all 2 ranks\n") and "death signal" not in err
    assert err.count("finishing the batch, saving last.pt") == 1  # rank 0's, not every rank's
    assert "Unable to shutdown" not in err  # no rank had to be killed
    assert not [pid for pid in workers if alive(pid)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["message"]) == ("interrupted", "SIGINT")
    assert load_checkpoint(run_dir)["step"] == summary["steps"]


def test_a_rank_stuck_at_a_signal_is_killed_after_torchs_shutdown_timeout(tmp_path) -> None:
    """TORCH_ELASTIC_SHUTDOWN_TIMEOUT, which torchrun reads, is the time a stopping rank gets
    to save last.pt before it is killed; the launcher fixed it at 30 s whatever it said."""
    model = tmp_path / "stuck.py"
    model.write_text(
        "import os, pathlib, time\n"
        "import torch.nn as nn\n"
        "class Stuck(nn.Sequential):\n"
        "    steps = 0\n"
        "    def forward(self, x):\n"
        "        Stuck.steps += self.training\n"
        "        if os.environ['RANK'] == '1' and Stuck.steps > 3:  # rank 0 waits for it\n"
        f"            pathlib.Path({str(tmp_path / 'stuck')!r}).touch()\n"
        "            time.sleep(3600)  # a signal's handler runs; the sleep goes on\n"
        "        return super().forward(x)\n"
        "def net(in_channels=1, num_classes=10):\n"
        "    return Stuck(nn.Flatten(), nn.Linear(28 * 28, num_classes))\n"
    )
    env = {"CNNTUI_DIST_TIMEOUT": "300", "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": "2"}
    proc = launch(f"{model}:net", settings(run_dir=str(tmp_path / "run")), env=env)
    try:
        wait_for((tmp_path / "stuck").exists, LAUNCH_TIMEOUT, "rank 1 stuck in a step")
        workers = [pid for pid in descendants(proc.pid) if rank_of(pid) is not None]
        proc.send_signal(signal.SIGINT)
        asked = time.monotonic()
        _, err = proc.communicate(timeout=90)
        waited = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert waited < 20, err  # 2 s and the launcher's own ending; 30 s and more before
    assert not [pid for pid in workers if alive(pid)]


def test_a_shutdown_timeout_that_is_not_seconds_is_refused_before_anything_starts(tmp_path):
    env = {**os.environ, "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": "30s"}
    runs = tmp_path / "runs"
    args = ["run", "mlp", "--headless", "--nproc", "2", "--runs-root", str(runs)]
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 2
    assert out.stderr == (
        "cnntui: error: TORCH_ELASTIC_SHUTDOWN_TIMEOUT must be a whole number of seconds, "
        "got '30s'\n"
    )
    assert not runs.exists()


class Failure:
    def __init__(self, exitcode: int, timestamp: int, signal: str = "") -> None:
        # Torch's ProcessFailure.timestamp: int(time.time()), or the error file's whole second.
        self.exitcode, self.timestamp, self._signal = exitcode, timestamp, signal

    def signal_name(self) -> str:
        return self._signal


def test_the_launcher_blames_the_killed_rank_not_the_first_to_exit() -> None:
    from cnntui.launch_failure import root_failure

    # Rank 0 left first with an error, because its collective broke when rank 1 was killed.
    failures = {0: Failure(1, 10), 1: Failure(-9, 10, "SIGKILL")}
    assert root_failure(failures)[0] == 1
    assert root_failure({0: Failure(1, 10), 1: Failure(-9, 11, "SIGKILL")})[0] == 1
    # The launcher's own SIGTERM to the survivors is not a cause.
    failures = {0: Failure(-15, 10, "SIGTERM"), 1: Failure(1, 10)}
    assert root_failure(failures)[0] == 1


def test_the_launcher_blames_a_rank_that_ended_with_a_code_cnntui_never_gives() -> None:
    """Rank 1 left with exit(7) (a library's, or os._exit): rank 0, whose collective broke,
    exited 1 in the same second and was blamed, so rank 1 went unnamed and rank 0's "Connection
    closed by peer" was all that was said."""
    from cnntui.launch_failure import root_failure

    assert root_failure({0: Failure(1, 10), 1: Failure(7, 10)})[0] == 1
    assert root_failure({0: Failure(130, 10), 1: Failure(7, 11)})[0] == 1
    # cnntui's own codes are a rank's own failure, as before.
    assert root_failure({0: Failure(1, 10), 1: Failure(2, 10)})[0] == 0
    assert root_failure({0: Failure(3, 10), 1: Failure(1, 10)})[0] == 0


def test_the_launcher_names_a_rank_that_exited_with_a_foreign_code_and_exits_1(capsys) -> None:
    from cnntui.launch_failure import say_failed_launch

    rank_1 = Failure(7, 10)
    rank_1.pid = 42
    assert say_failed_launch({0: Failure(1, 10), 1: rank_1}, 2, False) == 1  # a documented code
    assert capsys.readouterr().err == (
        "cnntui: error: rank 1 (pid 42) exited with code 7; stopped all 2 ranks\n"
    )


def test_the_launcher_names_rank_0_when_it_exited_with_a_foreign_code(capsys) -> None:
    """Rank 0 left with exit(7) and said nothing, as any rank that does: the launch exited 7 in
    silence, as though rank 0 had said its error as a single process would."""
    from cnntui.launch_failure import say_failed_launch

    rank_0 = Failure(7, 10)
    rank_0.pid = 41
    assert say_failed_launch({0: rank_0, 1: Failure(-15, 10, "SIGTERM")}, 2, False) == 1
    assert capsys.readouterr().err == (
        "cnntui: error: rank 0 (pid 41) exited with code 7; stopped all 2 ranks\n"
    )


def test_the_launcher_blames_the_earliest_second_then_the_lowest_rank() -> None:
    """Torch's timestamps are whole seconds: two ranks of one kind mostly share one."""
    from cnntui.launch_failure import root_failure

    assert root_failure({0: Failure(2, 11), 1: Failure(1, 10)})[0] == 1
    assert root_failure({1: Failure(1, 10), 0: Failure(2, 10)})[0] == 0
    assert root_failure({2: Failure(-6, 10, "SIGABRT"), 1: Failure(-9, 10, "SIGKILL")})[0] == 1


def test_the_launcher_blames_a_ranks_own_failure_over_the_peers_that_stopped_with_it() -> None:
    """Rank 0 failed (exit 1) and rank 1, stopped with it at the next step, exited 130 first,
    having no files to write: the launch was reported as rank 1's, and exited 130."""
    from cnntui.launch_failure import root_failure

    assert root_failure({0: Failure(1, 11), 1: Failure(130, 10)})[0] == 0
    assert root_failure({0: Failure(-15, 10, "SIGTERM"), 1: Failure(3, 11)})[0] == 1
    # A kill still comes first; among ranks that only stopped, the earliest.
    assert root_failure({0: Failure(2, 10), 1: Failure(-9, 11, "SIGKILL")})[0] == 1
    assert root_failure({0: Failure(130, 11), 1: Failure(130, 10)})[0] == 1
