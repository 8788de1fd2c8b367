"""A real run in another process, writing a heartbeat every 0.2 s (a real run's are
HEARTBEAT_EVERY apart): what `watch` follows in the tests of a live run's quiet."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# LeNet on 256 synthetic images: 4 steps and an evaluation of 64. sys.argv[1]: its run
# directory; what follows it in the script (`then`) may take more arguments.
SET_UP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from cnntui.config import RunConfig
    from cnntui.engine.trainer import Trainer

    config = RunConfig(
        model="lenet", dataset="synthetic:1x28x28:10:train=256:test=64", epochs=1,
        batch_size=64, log_interval=0.01, run_dir=sys.argv[1], device="cpu",
    )
    trainer = Trainer(config)
    trainer.heartbeat_every = 0.2
    """
)


@contextlib.contextmanager
def beating_run(run_dir: Path, then: str, *args: str) -> Iterator[subprocess.Popen]:
    """The run set up and scripted by `then` (which calls trainer.run()); killed when the block
    ends, if the test has not."""
    script = SET_UP + textwrap.dedent(then)
    run = subprocess.Popen([sys.executable, "-c", script, str(run_dir), *args])
    try:
        yield run
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)


def wait_for(run: subprocess.Popen, condition: Callable[[], bool], what: str) -> None:
    """Until `condition` holds; fails if the run ends first or 120 s pass (a slow set-up)."""
    deadline = time.monotonic() + 120
    while not condition():
        assert run.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within 120 s"
        time.sleep(0.05)
