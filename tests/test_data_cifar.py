"""CIFAR-10 binary reader: record layout, class names, and damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnntui.data.cifar import (
    CLASSES,
    RECORD_SIZE,
    read_cifar_batches,
    read_class_names,
    write_cifar_batch,
)
from cnntui.data.rawfile import DataFileError
from cnntui.data.readers import read_cifar_set
from cnntui.data.sources import SOURCES, Located, find_files


def random_batch(records: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (records, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, records, dtype=np.uint8)
    return images, labels


def write_cifar_dir(directory: Path, records: int = 6, meta: str | None = None) -> None:
    """A cifar-10-batches-bin folder with `records` records per batch."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for seed, name in enumerate(names):
        write_cifar_batch(directory / name, *random_batch(records, seed))
    if meta is not None:
        (directory / "batches.meta.txt").write_text(meta)


def test_record_is_label_then_red_green_blue_planes(tmp_path: Path) -> None:
    record = bytearray(RECORD_SIZE)
    record[0] = 7
    record[1 : 1 + 1024] = bytes([10]) * 1024  # red plane
    record[1 + 1024 : 1 + 2048] = bytes([20]) * 1024  # green
    record[1 + 2048 :] = bytes([30]) * 1024  # blue
    record[1 + 32 + 5] = 99  # red, row 1, column 5
    path = tmp_path / "one.bin"
    path.write_bytes(bytes(record) * 2)
    images, labels = read_cifar_batches([path])
    assert images.shape == (2, 3, 32, 32)
    assert labels.tolist() == [7, 7]
    assert images[0, :, 0, 0].tolist() == [10, 20, 30]
    assert int(images[1, 0, 1, 5]) == 99


def test_batches_concatenate_in_order(tmp_path: Path) -> None:
    first, second = random_batch(3, 0), random_batch(4, 1)
    write_cifar_batch(tmp_path / "a.bin", *first)
    write_cifar_batch(tmp_path / "b.bin", *second)
    images, labels = read_cifar_batches([tmp_path / "a.bin", tmp_path / "b.bin"])
    np.testing.assert_array_equal(images.numpy(), np.concatenate([first[0], second[0]]))
    assert labels.tolist() == [*first[1].tolist(), *second[1].tolist()]
    assert str(labels.dtype) == "torch.int64"


def test_partial_record_is_reported_as_truncated(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1.bin"
    write_cifar_batch(path, *random_batch(3, 0))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataFileError) as info:
        read_cifar_batches([path])
    message = str(info.value)
    assert message.startswith(str(path))
    assert "not a whole number of 3073-byte records" in message
    assert "3063 bytes over" in message


def test_label_out_of_range(tmp_path: Path) -> None:
    images, labels = random_batch(4, 0)
    labels[2] = 42
    write_cifar_batch(tmp_path / "x.bin", images, labels)
    with pytest.raises(DataFileError, match="record 2 has label 42"):
        read_cifar_batches([tmp_path / "x.bin"])


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(DataFileError, match="empty file"):
        read_cifar_batches([tmp_path / "x.bin"])


def test_class_names_from_meta_file(tmp_path: Path) -> None:
    path = tmp_path / "batches.meta.txt"
    path.write_text("\n".join(f"name{i}" for i in range(10)) + "\n\n")
    assert read_class_names(path) == [f"name{i}" for i in range(10)]
    assert read_class_names(tmp_path / "absent.txt") == list(CLASSES)
    path.write_text("cat\ndog\n")
    with pytest.raises(DataFileError, match="lists 2 class names"):
        read_class_names(path)


def located(directory: Path) -> Located:
    found, missing = find_files(SOURCES["cifar10"], directory)
    assert not missing
    return Located(directory, found, "test")


def test_read_cifar_set(tmp_path: Path) -> None:
    write_cifar_dir(tmp_path, records=5, meta="\n".join(f"c{i}" for i in range(10)))
    raw = read_cifar_set(located(tmp_path))
    assert raw.train_images.shape == (25, 3, 32, 32)
    assert raw.test_images.shape == (5, 3, 32, 32)
    assert raw.classes[0] == "c0"
    assert int(raw.train_labels.max()) < 10


def test_batch_cut_at_a_record_boundary_is_caught(tmp_path: Path) -> None:
    write_cifar_dir(tmp_path, records=5)
    cut = tmp_path / "data_batch_3.bin"
    cut.write_bytes(cut.read_bytes()[: 3 * RECORD_SIZE])
    with pytest.raises(DataFileError) as info:
        read_cifar_set(located(tmp_path))
    assert str(info.value).startswith(str(cut))
    assert "has 3 records where 5 were expected" in str(info.value)
