"""Data sets for training: raw readers (IDX, CIFAR binary), sources and search path, loaders.

`import cnntui.data` stays cheap: names that need torch load on first use.

    from cnntui.data import load_data
    data = load_data("fmnist", "cuda", batch_size=256, seed=0, val_split=0.1, resize=224)
    for epoch in range(epochs):
        data.train.set_epoch(epoch)
        for x, y in data.train: ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cnntui.data.datasets import (
    DATASETS,
    Augmentation,
    DatasetInfo,
    DataSpec,
    parse_data_spec,
    resolve_dataset_name,
    saved_data_spec,
)
from cnntui.data.rawfile import DataFileError

if TYPE_CHECKING:
    from cnntui.data.bundle import DataBundle, load_data
    from cnntui.data.loader import BatchLoader, DeviceLoader
    from cnntui.data.synthetic import make_synthetic

_LAZY = {
    "DataBundle": "cnntui.data.bundle",
    "load_data": "cnntui.data.bundle",
    "BatchLoader": "cnntui.data.loader",
    "DeviceLoader": "cnntui.data.loader",
    "make_synthetic": "cnntui.data.synthetic",
}

__all__ = [
    "DATASETS",
    "Augmentation",
    "BatchLoader",
    "DataBundle",
    "DataFileError",
    "DataSpec",
    "DatasetInfo",
    "DeviceLoader",
    "load_data",
    "make_synthetic",
    "parse_data_spec",
    "resolve_dataset_name",
    "saved_data_spec",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
