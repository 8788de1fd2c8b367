"""The binary version of CIFAR-10: fixed-size records of 1 label byte and 3072 pixel bytes.

This is the format of `cifar-10-batches-bin/` (data_batch_1..5.bin, test_batch.bin). The Python
version of the data set is pickled and would run code on load, so it is never read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnntui.data.datasets import DATASETS
from cnntui.data.rawfile import DataFileError, read_file_bytes

IMAGE_SHAPE = (3, 32, 32)
RECORD_SIZE = 1 + 3 * 32 * 32
CLASSES = DATASETS["cifar10"].classes  # the catalogue holds the names once
NUM_CLASSES = len(CLASSES)


def parse_cifar_batch(
    data: bytes, path: Path | str = "<bytes>", expected_records: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one batch into uint8 images (N, 3, 32, 32) and int64 labels, validating the size."""
    if not data:
        raise DataFileError(path, "empty file")
    records, leftover = divmod(len(data), RECORD_SIZE)
    if leftover:
        raise DataFileError(
            path,
            f"{len(data):,} bytes is not a whole number of {RECORD_SIZE}-byte records "
            f"({records:,} records and {leftover} bytes over): truncated or not CIFAR-10 binary",
        )
    if expected_records is not None and records != expected_records:
        raise DataFileError(
            path,
            f"has {records:,} records where {expected_records:,} were expected (the official "
            "batches hold 10,000 each): truncated or not the official file",
        )
    table = np.frombuffer(data, dtype=np.uint8).reshape(records, RECORD_SIZE)
    labels = table[:, 0].astype(np.int64)
    if labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise DataFileError(
            path,
            f"record {bad} has label {labels[bad]}, outside 0..{NUM_CLASSES - 1}: "
            "not a CIFAR-10 binary batch (CIFAR-100 records have two label bytes)",
        )
    images = np.ascontiguousarray(table[:, 1:]).reshape(records, *IMAGE_SHAPE)
    return images, labels


def read_cifar_batches(
    paths: list[Path], expected_records: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read and concatenate batch files into uint8 images (N, 3, 32, 32) and int64 labels."""
    parts = [parse_cifar_batch(read_file_bytes(p), p, expected_records) for p in paths]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


def read_class_names(path: Path | None) -> list[str]:
    """Class names from batches.meta.txt (one per line); the standard names when it is absent."""
    if path is None or not path.exists():
        return list(CLASSES)
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(path, f"cannot read class names: {exc}") from exc
    names = [name for name in names if name]
    if len(names) != NUM_CLASSES:
        raise DataFileError(
            path, f"lists {len(names)} class names, CIFAR-10 has {NUM_CLASSES}: not CIFAR-10's"
        )
    return names


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write uint8 images (N, 3, 32, 32) and labels in the binary record format."""
    records = np.empty((len(labels), RECORD_SIZE), dtype=np.uint8)
    records[:, 0] = labels
    records[:, 1:] = np.asarray(images, dtype=np.uint8).reshape(len(labels), -1)
    path.write_bytes(records.tobytes())
