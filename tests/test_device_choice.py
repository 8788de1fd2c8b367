"""`--device` is checked by one function for run, eval and shapes: the same mistake reads the
same in each, one line and exit 2, and each refuses what it cannot do with its reason."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from cnntui.cli import main

SYNTHETIC = "synthetic:1x28x28:10:train=64:test=32"
COMMANDS = ["run", "eval", "shapes"]


def device_cli(command: str, device: str, tmp_path: Path, monkeypatch, capsys) -> tuple[int, str]:
    """`cnntui COMMAND ... --device DEVICE` through the CLI's entry point, in this process."""
    if command == "run":
        args = ["run", "lenet", "--dataset", SYNTHETIC, "--headless", "--max-steps", "1",
                "--run-dir", str(tmp_path / "run")]  # fmt: skip
    elif command == "eval":
        # Enough of a checkpoint to reach the device: the weights are read after it.
        checkpoint = tmp_path / "last.pt"
        torch.save({"model": {}, "config": {"dataset": SYNTHETIC}}, checkpoint)
        args = ["eval", str(checkpoint)]
    else:
        args = ["shapes", "lenet"]
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["cnntui", *args, "--device", device])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), capsys.readouterr().err


def no_gpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def one_gpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("device", "machine", "error"),
    [
        ("cuda:0", no_gpu, "--device cuda:0: torch sees no CUDA device here; use cpu"),
        # shapes passed cuda:3 on a one-GPU machine; the trace then failed with a traceback.
        ("cuda:3", one_gpu, "--device cuda:3: torch sees only cuda:0"),
    ],
)
def test_a_gpu_this_machine_lacks_is_refused_alike(
    command, device, machine, error, tmp_path, monkeypatch, capsys
) -> None:
    machine(monkeypatch)
    code, err = device_cli(command, device, tmp_path, monkeypatch, capsys)
    assert (code, err) == (2, f"cnntui: error: {error}\n")


@pytest.mark.parametrize(
    ("command", "choices"),
    [
        ("run", "auto, cpu, cuda, cuda:N or mps"),
        ("eval", "auto, cpu, cuda, cuda:N or mps"),
        ("shapes", "cpu, meta, cuda or cuda:N"),
    ],
)
def test_a_device_cnntui_does_not_know_is_worded_alike(
    command, choices, tmp_path, monkeypatch, capsys
) -> None:
    # torch names xpu; shapes said "device 'xpu' is not supported" where run said "unknown".
    code, err = device_cli(command, "xpu", tmp_path, monkeypatch, capsys)
    assert (code, err) == (2, f"cnntui: error: unknown device 'xpu'; use {choices}\n")


@pytest.mark.parametrize(
    ("command", "device", "error"),
    [
        ("run", "meta", "device 'meta' cannot train a run; use auto, cpu, cuda, cuda:N or mps"),
        (
            "eval",
            "meta",
            "device 'meta' cannot evaluate a checkpoint; use auto, cpu, cuda, cuda:N or mps",
        ),
        ("shapes", "mps", "device 'mps' cannot trace shapes; use cpu, meta, cuda or cuda:N"),
    ],
)
def test_a_device_another_command_takes_says_what_it_cannot_do(
    command, device, error, tmp_path, monkeypatch, capsys
) -> None:
    code, err = device_cli(command, device, tmp_path, monkeypatch, capsys)
    assert (code, err) == (2, f"cnntui: error: {error}\n")


def test_shapes_traces_on_meta(tmp_path, monkeypatch, capsys) -> None:
    code, err = device_cli("shapes", "meta", tmp_path, monkeypatch, capsys)
    assert (code, err) == (0, "")
