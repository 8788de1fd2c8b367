"""Read a located data set's files into CPU tensors, checking they look like the official ones."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from cnntui.data.cifar import read_cifar_batches, read_class_names
from cnntui.data.datasets import DATASETS, DatasetInfo
from cnntui.data.idx import read_idx
from cnntui.data.rawfile import DataFileError
from cnntui.data.sources import Located


@dataclass
class RawSplits:
    train_images: torch.Tensor  # uint8 (N, C, H, W)
    train_labels: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    source: str  # where the data came from, for the dashboard and the run log


def read_idx_set(located: Located, info: DatasetInfo) -> RawSplits:
    """MNIST or Fashion-MNIST from its four IDX files."""
    keys = ("train-images", "train-labels", "test-images", "test-labels")
    paths = [located.files[key] for key in keys]
    # gunzip releases the GIL, so the four files decompress side by side.
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        arrays = list(pool.map(read_idx, paths))
    train = _check_idx_pair(info, paths[0], arrays[0], paths[1], arrays[1])
    test = _check_idx_pair(info, paths[2], arrays[2], paths[3], arrays[3])
    _check_not_another_set(info, paths[1], train[1], 0)
    _check_not_another_set(info, paths[3], test[1], 1)
    return RawSplits(*train, *test, list(info.classes), str(located.directory))


def _check_idx_pair(
    info: DatasetInfo,
    images_path: Path,
    images: torch.Tensor,
    labels_path: Path,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    assert info.input_shape is not None and info.num_classes is not None
    _, height, width = info.input_shape
    if images.dtype != torch.uint8 or images.dim() != 3 or images.shape[1:] != (height, width):
        raise DataFileError(
            images_path,
            f"holds {images.dtype} values of shape {tuple(images.shape)}, expected uint8 "
            f"N x {height} x {width} images: not {info.title}'s image file",
        )
    if labels.dtype != torch.uint8 or labels.dim() != 1:
        raise DataFileError(
            labels_path,
            f"holds {labels.dtype} values of shape {tuple(labels.shape)}, expected uint8 labels "
            f"of shape (N,): not {info.title}'s label file",
        )
    if len(labels) != len(images):
        raise DataFileError(
            labels_path,
            f"has {len(labels):,} labels but {images_path.name} has {len(images):,} images",
        )
    _check_label_range(labels_path, labels, info.num_classes)
    return images.unsqueeze(1), labels.to(torch.int64)


def _check_not_another_set(info: DatasetInfo, path: Path, labels: torch.Tensor, split: int) -> None:
    """Refuse the other IDX data set's file under this one's name (Fashion-MNIST in a folder
    searched for MNIST): it reads without a fault, and the run would train on it in silence."""
    for other in DATASETS.values():
        if other is info or other.first_labels is None:
            continue
        first = other.first_labels[split]
        if tuple(labels[: len(first)].tolist()) == first:
            raise DataFileError(
                path,
                f"holds {other.title}'s labels, not {info.title}'s (its first labels are those "
                f"of {other.title}'s {'test' if split else 'training'} set): put {info.title}'s "
                f"files there, or train with --dataset {other.name}",
            )


def _check_label_range(path: Path, labels: torch.Tensor, num_classes: int) -> None:
    if len(labels) and int(labels.max()) >= num_classes:
        bad = int(torch.argmax((labels >= num_classes).to(torch.uint8)))
        raise DataFileError(
            path, f"label {int(labels[bad])} at index {bad} is outside 0..{num_classes - 1}"
        )


def read_cifar_set(located: Located) -> RawSplits:
    """CIFAR-10 from its binary batches; every batch must hold as many records as the others."""
    train_paths = [located.files[f"data_batch_{i}"] for i in range(1, 6)]
    test_path = located.files["test_batch"]
    # The official batches hold 10,000 records each; comparing with the test batch catches a
    # file cut at a record boundary, which the record-size check alone cannot.
    test_images, test_labels = read_cifar_batches([test_path])
    train_images, train_labels = read_cifar_batches(train_paths, expected_records=len(test_labels))
    classes = read_class_names(located.files.get("meta"))
    return RawSplits(
        train_images, train_labels, test_images, test_labels, classes, str(located.directory)
    )
