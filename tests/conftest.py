"""Shared fixtures: small, fast training configs on the synthetic data set."""

from __future__ import annotations

import os
import signal

import pytest

from cnntui.config import RunConfig
from cnntui.run_command import started_ignoring

# Tests never reach the network: a missing data set is an error, not a download.
os.environ.setdefault("CNNTUI_OFFLINE", "1")


def _let_runs_take_signals() -> None:
    """Tests send SIGINT and SIGHUP to the runs they start and check what cnntui does. A run keeps
    a signal its parent ignored (`nohup`'s SIGHUP, a script's `cmd &` SIGINT), as its users want,
    so in a suite started that way the runs ignored them and those tests hung or ran to the end.
    A Python handler, unlike SIG_IGN, is not inherited across exec: the runs start with the
    default, and the suite itself goes on ignoring the signal as it was started to."""
    for sig in (signal.SIGHUP, signal.SIGINT):
        if started_ignoring(sig):
            signal.signal(sig, lambda signum, frame: None)


_let_runs_take_signals()


@pytest.fixture
def tiny_config(tmp_path) -> RunConfig:
    """A LeNet run on 1,024 synthetic images: seconds on two CPU cores."""
    return RunConfig(
        model="lenet",
        model_options={"activation": "relu", "pool": "max"},
        dataset="synthetic:1x28x28:10:train=1024:test=256",
        epochs=2,
        batch_size=64,
        optimizer="sgd",
        lr=0.05,
        momentum=0.9,
        health_every=5,
        log_interval=0.01,
        run_dir=str(tmp_path / "run"),
        device="cpu",
    )
