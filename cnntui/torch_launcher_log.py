"""Torch's elastic launcher log, less the lines that repeat what cnntui says of a launch."""

from __future__ import annotations

import logging

# What torch's elastic launcher logs that the ranks and `cnntui.launch` say already, in
# cnntui's words: "failed (exitcode: 1) local_rank: 0 (pid: 42) of binary: ...", and "Sending
# process 42 closing signal SIGTERM" when it stops the others; its agent's "Received 2 death
# signal, shutting down workers" on a Ctrl-C (or SIGTERM), which `cnntui.launch` says as
# "SIGINT: stopped all N ranks". It also says when a rank would not stop ("Unable to shutdown
# process 42 via SIGTERM, forcefully exiting via SIGKILL": that rank never saved last.pt), or
# could not be killed; those stay. By torch's logger: its launcher's, and its agent's.
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
