"""Data set names and specs: aliases, synthetic and folder parameters, helpful errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnntui.data.datasets import DATASETS, DataSpec, parse_data_spec, resolve_dataset_name
from cnntui.errors import UsageError


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("fmnist", "fmnist"),
        ("Fashion-MNIST", "fmnist"),
        ("CIFAR-10", "cifar10"),
        ("mnist", "mnist"),
    ],
)
def test_names_and_aliases(text: str, name: str) -> None:
    assert parse_data_spec(text) == DataSpec(name)


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UsageError) as info:
        resolve_dataset_name("fmnst")
    message = str(info.value)
    assert "unknown data set 'fmnst'" in message and "did you mean fmnist" in message
    assert "synthetic" in message and "folder:PATH" in message


def test_synthetic_specs() -> None:
    assert parse_data_spec("synthetic") == DataSpec("synthetic")
    spec = parse_data_spec("synthetic:3x32x32:10")
    assert (spec.shape, spec.num_classes) == ((3, 32, 32), 10)
    assert str(spec) == "synthetic:3x32x32:10"
    spec = parse_data_spec("synthetic:64x64:5:train=100:test=20:seed=3")
    assert (spec.shape, spec.num_classes, spec.train_size, spec.test_size, spec.seed) == (
        (1, 64, 64),
        5,
        100,
        20,
        3,
    )
    assert parse_data_spec(str(spec)) == spec


@pytest.mark.parametrize(
    "text",
    ["synthetic:3x32x32x2", "synthetic:axb", "synthetic:1", "synthetic:size=3", "synthetic:0x2x2"],
)
def test_bad_synthetic_specs(text: str) -> None:
    with pytest.raises(UsageError):
        parse_data_spec(text)


def test_folder_spec() -> None:
    spec = parse_data_spec("folder:~/pets")
    assert spec.path == Path("~/pets").expanduser()
    with pytest.raises(UsageError, match="folder needs a path"):
        parse_data_spec("folder")
    with pytest.raises(UsageError, match="takes no parameters"):
        parse_data_spec("mnist:3")


def test_catalogue_knows_the_official_class_names() -> None:
    assert DATASETS["fmnist"].classes[0] == "T-shirt/top"
    assert DATASETS["fmnist"].classes[-1] == "Ankle boot"
    assert DATASETS["mnist"].classes == tuple("0123456789")
    assert DATASETS["cifar10"].num_classes == 10


def test_importing_the_package_does_not_import_torch() -> None:
    code = "import sys, cnntui.data; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert result.stdout.strip() == "False"
