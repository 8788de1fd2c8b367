"""Shared fixtures: small, fast training configs on the synthetic data set."""

from __future__ import annotations

import os

import pytest

from cnntui.config import RunConfig

# Tests never reach the network: a missing data set is an error, not a download.
os.environ.setdefault("CNNTUI_OFFLINE", "1")


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
