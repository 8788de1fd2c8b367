"""`--set channels_last=auto` (cuda_graph, matmul_stem): the switches whose default the README
and the log call auto take that word on the command line, as None; it was refused as not a bool."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnntui.config import load_config, unset_with_none
from cnntui.errors import UsageError

ONE_STEP = ["--dataset", "synthetic:1x28x28:10:train=64:test=64", "-b", "64", "--epochs", "1"]


def cnntui(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnntui", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_auto_in_any_case_leaves_the_switches_to_the_engine(tmp_path) -> None:
    run_dir = tmp_path / "run"
    out = cnntui(
        *("run", "lenet", *ONE_STEP, "--device", "cpu", "--headless", "--run-dir", run_dir),
        *("--set", "channels_last=auto", "--set", "cuda_graph=AUTO", "--set", "matmul_stem=Auto"),
    )
    assert out.returncode == 0, out.stderr
    config = json.loads((run_dir / "config.json").read_text())
    # The engine decided the layout at the start and saved its choice, as it does by default.
    assert isinstance(config["channels_last"], bool)
    assert config["cuda_graph"] is None and config["matmul_stem"] is None


def test_a_wrong_value_names_auto_among_the_values_a_switch_takes() -> None:
    out = cnntui("run", "lenet", "--set", "cuda_graph=maybe", "--headless")
    assert out.returncode == 2
    assert out.stderr == (
        "cnntui: error: --set cuda_graph should be true, false or auto, got 'maybe'\n"
    )


def test_auto_is_a_word_only_for_those_switches() -> None:
    settings = unset_with_none({"max_steps": "auto", "data_dir": "auto", "compile": "auto"})
    assert settings == {"max_steps": "auto", "data_dir": "auto", "compile": "auto"}
    with pytest.raises(UsageError, match=r"^--set compile should be bool, got 'auto'$"):
        load_config("lenet", None, settings | {"max_steps": 1, "data_dir": None})


def test_a_preset_leaves_an_auto_switch_out(tmp_path) -> None:
    """TOML has no None; as for none, a preset keeps the default by leaving the key out."""
    path = tmp_path / "auto.toml"
    path.write_text('model = "lenet"\nchannels_last = "auto"\n')
    with pytest.raises(
        UsageError,
        match=r": channels_last should be true or false \(or left unset: auto\), got 'auto'$",
    ):
        load_config("", str(path))
