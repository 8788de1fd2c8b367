"""Data-parallel runs on torch.distributed: who this process is, the process group, DDP.

A process is a rank of a distributed run when the launcher (`torchrun`, or `cnntui run --nproc`)
set WORLD_SIZE > 1 in its environment; otherwise everything here is a no-op and the engine runs
exactly as a single process. Importing this module does not initialise anything.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
from torch import nn

# A rank that stops answering (hung, or its host gone) fails every collective after this long.
DEFAULT_TIMEOUT_S = 120.0
TIMEOUT_ENV = "CNNTUI_DIST_TIMEOUT"


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only one that writes the run directory and emits events."""
        return self.rank == 0


SINGLE = DistContext()


def context_from_env(environ: dict[str, str] | None = None) -> DistContext:
    """Rank, world size and local rank as the launcher set them; single-process otherwise."""
    env = os.environ if environ is None else environ
    world_size = int(env.get("WORLD_SIZE", "1") or 1)
    if world_size <= 1:
        return SINGLE
    return DistContext(
        rank=int(env.get("RANK", "0")),
        world_size=world_size,
        local_rank=int(env.get("LOCAL_RANK", "0")),
    )


def collective_timeout() -> timedelta:
    return timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))


def rank_device(device: torch.device, ctx: DistContext) -> torch.device:
    """On GPUs each local rank takes its own device: cuda -> cuda:LOCAL_RANK."""
    if ctx.enabled and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", ctx.local_rank % max(1, torch.cuda.device_count()))
    if device.type == "cuda":
        if device.index is None:  # set_device, streams and NVML want the index spelled out
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    return device


def init_process_group(ctx: DistContext, device: torch.device) -> None:
    """NCCL on GPUs, gloo on the CPU; MASTER_ADDR/PORT come from the launcher's environment."""
    import torch.distributed as dist

    if not ctx.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {"device_id": device} if backend == "nccl" else {}
    dist.init_process_group(
        backend=backend,
        rank=ctx.rank,
        world_size=ctx.world_size,
        timeout=collective_timeout(),
        **kwargs,
    )
    global _side_group
    _side_group = dist.new_group(backend="gloo")


# Its own gloo connections, unharmed when a training collective times out (on NCCL or gloo).
_side_group = None


def diagnose_timeout(exc: BaseException) -> str | None:
    """After a collective timed out: which ranks stopped answering (a gloo monitored barrier)."""
    import torch.distributed as dist

    if "timed out" not in str(exc).lower() or not dist.is_initialized():
        return None
    try:
        dist.monitored_barrier(group=_side_group, timeout=timedelta(seconds=5), wait_all_ranks=True)
    except RuntimeError as barrier_error:
        text = str(barrier_error)
        start = text.find("Ranks ")
        stop = text.find(" failed to pass")
        if start >= 0 and stop > start:
            return f"rank(s) {text[start + 6 : stop]} stopped responding (hung or gone)"
        return None
    except Exception:
        return None
    return None


# Where a failing rank leaves its error for its peers, whose next collective its exit breaks
# with no more than "Connection closed by peer": the process group's store, when the launcher's
# elastic agent holds it (torchrun, `cnntui run --nproc`) and it outlives the ranks. A store that
# rank 0 hosts (an env:// launch of one's own) goes with rank 0: a peer's calls to it then print
# screens of TCPStore's warnings, or wait, to learn nothing.
FAILURE_KEY = "cnntui/failure/{}"
AGENT_STORE_ENV = "TORCHELASTIC_USE_AGENT_STORE"
# How long a failure report may wait on the store: a host that stopped answering must not hang
# the rank's exit.
STORE_TIMEOUT_S = 3.0


def group_store() -> Any:
    """The default process group's store, or None without one. Torch has no public getter."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return None
    from torch.distributed.distributed_c10d import _get_default_store

    return _get_default_store()


def failure_store(store: Any = None) -> Any:
    """`store` (else the process group's) when the launcher's agent hosts it, else None."""
    if os.environ.get(AGENT_STORE_ENV) != "True":  # torch's own test of the same variable
        return None
    return store if store is not None else group_store()


def bounded(call: Callable[[], Any]) -> Any:
    """`call()`'s result, or TimeoutError after STORE_TIMEOUT_S. On a daemon thread, which a
    store that hangs leaves behind: TCPStore's own timeout does not bound a `check` whose
    host stopped answering (it waits on its socket for good)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # re-raised on the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="cnntui-failure-store", daemon=True)
    thread.start()
    thread.join(STORE_TIMEOUT_S)
    if thread.is_alive():
        raise TimeoutError(f"the process group's store did not answer in {STORE_TIMEOUT_S:g}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def record_failure(ctx: DistContext, message: str, store: Any = None) -> None:
    """Leave this rank's own error where its peers look for the cause of theirs. Written before
    the rank leaves the process group, so before any peer can lose it; best effort."""
    with contextlib.suppress(Exception):
        store = failure_store(store)
        if store is not None:
            bounded(lambda: store.set(FAILURE_KEY.format(ctx.rank), message))


# What a collective says when the rank at its other end has gone (gloo, and torch's sockets).
LOST_PEER_SIGNS = ("Connection closed by peer", "Connection reset by peer", "Broken pipe")


def lost_a_peer(exc: BaseException) -> bool:
    """Whether `exc` is this rank losing a peer (its collective broke), rather than an error of
    its own, which must stay the rank's error even when a peer failed at the same moment."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    return any(sign in str(exc) for sign in LOST_PEER_SIGNS)


def peer_failure(ctx: DistContext, store: Any = None) -> tuple[int, str] | None:
    """The lowest other rank that recorded its error, and that error; None when none did (a
    rank killed by a signal records nothing), the agent holds no store, or it cannot be read."""
    try:
        store = failure_store(store)
        if store is None:
            return None

        def first_recorded() -> tuple[int, str] | None:
            for rank in range(ctx.world_size):
                key = FAILURE_KEY.format(rank)
                if rank != ctx.rank and store.check([key]):
                    return rank, store.get(key).decode(errors="replace")
            return None

        return bounded(first_recorded)
    except Exception:
        return None


def failure_message(ctx: DistContext, exc: BaseException, message: str) -> tuple[str, bool]:
    """The run's message for this rank's failure `exc` (worded `message` alone), and whether
    a peer's failure is its cause; records this rank's own error for its peers."""
    if not ctx.enabled:
        return message, False
    cause = None
    diagnosis = diagnose_timeout(exc)
    if diagnosis:
        message = f"a collective timed out on rank {ctx.rank}: {diagnosis}"
    elif lost_a_peer(exc):
        # A peer that failed first broke this rank's collective: its error is the cause, where
        # this one said only "Connection closed by peer". An error of this rank's own stays its
        # own, whatever a peer recorded meanwhile.
        cause = peer_failure(ctx)
    if cause is None:
        record_failure(ctx, message)
        return message, False
    return f"rank {cause[0]} failed: {cause[1]}", True


def destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module under torch.compile and DDP wrappers (for checkpoints and evaluation)."""
    from torch.nn.parallel import DistributedDataParallel

    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum a device tensor over all ranks, in place; returns it."""
    import torch.distributed as dist

    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
