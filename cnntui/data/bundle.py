"""The data entry point the engine calls: `load_data(spec, device, ...)` -> DataBundle."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnntui.data.datasets import Augmentation, DataSpec, parse_data_spec
from cnntui.data.loader import BatchLoader, DeviceLoader
from cnntui.data.seeding import mix_seed
from cnntui.data.sources import DATA_ENV, Fetch, locate
from cnntui.data.transforms import BatchTransform, resolve_size
from cnntui.errors import UsageError

STREAM_SPLIT = 3
_STATS_SAMPLE = 10_000  # images used to measure a synthetic set's mean and std


@dataclass
class DataBundle:
    """Train, validation and test loaders plus what the dashboard and model need to know."""

    name: str  # the spec as text: "fmnist", "synthetic:3x32x32:10", "folder:/data/pets"
    title: str
    train: BatchLoader
    val: BatchLoader | None
    test: BatchLoader
    classes: list[str]
    input_shape: tuple[int, int, int]  # (C, H, W) of the batches, after any resize
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str  # the directory the files came from, or "generated"

    @property
    def num_classes(self) -> int:
        """How many classes the labels range over."""
        return len(self.classes)

    def passed_over(self, data_dir: Path | str | None, name: str = "--data-dir") -> str | None:
        """A warning when a place the user set for the data was passed over: `--data-dir` was
        given but the data did not come from it (it holds no copy, so the search went on to
        `$CNNTUI_DATA`, the cache, a system copy; or the data set reads no files there), or
        `$CNNTUI_DATA` names no folder and a later place held the data. Otherwise the run would
        say nothing of a folder the user meant it to read. `name` is how `data_dir` is named:
        the flag, or a preset's key (`config.setting_name`)."""
        missing_env = self._missing_data_env()
        if not data_dir:
            return (
                f"{missing_env}; {self.title} was read from {self.source}" if missing_env else None
            )
        if self.source == "generated":
            return f"{name} {data_dir} is not used: {self.name} data is generated, not read"
        if self.name.startswith("folder:"):
            return f"{name} {data_dir} is not used: {self.name} names its own folder"
        given = Path(data_dir).expanduser().resolve()
        source = Path(self.source).resolve()
        if source == given or given in source.parents:
            return None  # $CNNTUI_DATA was not searched: whether it exists did not matter
        also = f" and {missing_env}" if missing_env else ""
        lacking = _files_lacking(self.name, given)
        if lacking:
            # Not "holds no": the user's files were seen, and which are missing is the fix.
            return (
                f"{name} {data_dir} holds only part of {self.title} ({lacking}){also}; "
                f"it was read from {self.source}"
            )
        return f"{name} {data_dir} holds no {self.title}{also}; it was read from {self.source}"

    def _missing_data_env(self) -> str | None:
        """Says that `$CNNTUI_DATA` names no folder, when it is set to one that does not exist (a
        typo, a disk not mounted: the search skipped it) and this data set was searched for. A
        folder that exists but lacks this data set goes unnamed: it may hold the user's others."""
        value = os.environ.get(DATA_ENV)
        if not value or self.source == "generated" or self.name.startswith("folder:"):
            return None
        path = Path(value).expanduser()
        if path.is_dir():
            return None
        return f"${DATA_ENV}={value} {'is not a directory' if path.exists() else 'does not exist'}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the run log."""
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "train_examples": self.train.num_examples,
            "val_examples": self.val.num_examples if self.val is not None else 0,
            "test_examples": self.test.num_examples,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def load_data(
    spec: str | DataSpec,
    device: torch.device | str = "cpu",
    *,
    batch_size: int = 256,
    eval_batch_size: int | None = None,
    seed: int = 0,
    val_split: float = 0.0,
    resize: int | Sequence[int] | None = None,
    augment: bool | Augmentation = False,
    normalize: bool = True,
    drop_last: bool = False,
    channels_last: bool = False,
    dtype: torch.dtype = torch.float32,
    data_dir: Path | str | None = None,
    data_dir_name: str = "--data-dir",
    download: bool | None = None,
    num_workers: int | None = None,
    fetch: Fetch | None = None,
    log: Callable[[str], None] | None = None,
) -> DataBundle:
    """Find, read and place a data set on `device`, and wrap it in loaders.

    `augment=True` picks the data set's usual augmentation; `drop_last` applies to the training
    loader only (evaluation always sees every example). `download=None` downloads missing files
    unless $CNNTUI_OFFLINE is set. `data_dir_name` is how messages name `data_dir`.
    """
    spec = parse_data_spec(spec)
    info = spec.info
    device = torch.device(device)
    if not 0.0 <= val_split < 1.0:
        raise UsageError(f"val_split must be in [0, 1), got {val_split}")
    if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
        raise UsageError("batch sizes must be positive")
    augmentation = info.augmentation if augment is True else (augment or None)
    eval_batch_size = eval_batch_size or batch_size

    def make_transform(channels: int, size: tuple[int, int] | None, train: bool) -> BatchTransform:
        return BatchTransform(
            mean=mean if normalize else (0.0,) * channels,
            std=std if normalize else (1.0,) * channels,
            size=size,
            augmentation=augmentation if train else None,
            dtype=dtype,
            channels_last=channels_last,
            device=device,
        )

    if spec.name == "folder":
        from cnntui.data.folder import FolderLoader, open_image_folders

        assert spec.path is not None
        folders = open_image_folders(spec.path, resize)
        mean, std = info.mean, info.std
        train_idx, val_idx = _split_indices(len(folders.train), val_split, seed)  # type: ignore[arg-type]
        common: dict[str, Any] = dict(device=device, num_workers=num_workers, seed=seed)

        def folder_loader(dataset, indices, batch, train: bool) -> FolderLoader:
            return FolderLoader(
                dataset,
                batch_size=batch,
                transform=make_transform(3, None, train),
                indices=indices,
                shuffle=train,
                drop_last=drop_last and train,
                **common,
            )

        train = folder_loader(folders.train, train_idx, batch_size, True)
        val: BatchLoader | None = (
            folder_loader(folders.train, val_idx, eval_batch_size, False) if len(val_idx) else None
        )
        test = folder_loader(folders.test, None, eval_batch_size, False)
        bundle = DataBundle(
            str(spec),
            info.title,
            train,
            val,
            test,
            folders.classes,
            folders.input_shape,
            mean,
            std,
            folders.source,
        )
        return _checked(bundle)

    raw = _read_raw(spec, data_dir, data_dir_name, download, fetch, log)
    if spec.name == "synthetic":
        mean, std = _channel_stats(raw.train_images)
    else:
        mean, std = info.mean, info.std
    channels, height, width = raw.train_images.shape[1:]
    size = resolve_size(resize, height, width)
    train_idx, val_idx = _split_indices(len(raw.train_labels), val_split, seed)

    def device_loader(images, labels, batch: int, train: bool) -> DeviceLoader:
        return DeviceLoader(
            images,
            labels,
            batch_size=batch,
            transform=make_transform(channels, size, train),
            shuffle=train,
            seed=seed,
            drop_last=drop_last and train,
            device=device,
        )

    if len(val_idx):
        train_images, train_labels = raw.train_images[train_idx], raw.train_labels[train_idx]
        val = device_loader(
            raw.train_images[val_idx], raw.train_labels[val_idx], eval_batch_size, False
        )
    else:
        train_images, train_labels, val = raw.train_images, raw.train_labels, None
    bundle = DataBundle(
        str(spec),
        info.title,
        device_loader(train_images, train_labels, batch_size, True),
        val,
        device_loader(raw.test_images, raw.test_labels, eval_batch_size, False),
        raw.classes,
        (channels, *size),
        tuple(mean),
        tuple(std),
        raw.source,
    )
    return _checked(bundle)


def _read_raw(spec: DataSpec, data_dir, data_dir_name, download, fetch, log):
    from cnntui.data.readers import read_cifar_set, read_idx_set

    if spec.name == "synthetic":
        from cnntui.data.datasets import SYNTHETIC_DEFAULT_TEST, SYNTHETIC_DEFAULT_TRAIN
        from cnntui.data.synthetic import make_synthetic

        shape, classes = spec.stored_shape, spec.class_count
        assert shape is not None and classes is not None  # synthetic's defaults fill them in
        return make_synthetic(
            shape,
            classes,
            spec.train_size or SYNTHETIC_DEFAULT_TRAIN,
            spec.test_size or SYNTHETIC_DEFAULT_TEST,
            spec.seed,
        )
    located = locate(
        spec.name, data_dir, download=download, fetch=fetch, log=log, data_dir_name=data_dir_name
    )
    if spec.name == "cifar10":
        return read_cifar_set(located)
    return read_idx_set(located, spec.info)


def _files_lacking(name: str, root: Path) -> str | None:
    """Which files a folder that holds part of data set `name` lacks ("lacks test-images,
    test-labels", or "its fashion-mnist/ lacks ..."); None when it holds none of them."""
    from cnntui.data.sources import SOURCES, candidate_dirs, find_files

    source = SOURCES.get(name)
    if source is None:
        return None
    for directory in candidate_dirs(source, root):
        _, missing = find_files(source, directory)
        if missing and len(missing) < len(source.files):
            where = "" if directory == root else f"its {directory.relative_to(root)}/ "
            return f"{where}lacks {', '.join(missing)}"
    return None


def _split_indices(count: int, val_split: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted train and validation indices; the split depends only on (count, fraction, seed)."""
    if val_split == 0:
        return torch.arange(count), torch.empty(0, dtype=torch.int64)
    val_count = min(count - 1, max(1, round(count * val_split)))
    if val_count < 1:
        raise UsageError(f"cannot hold out a validation split from {count} example(s)")
    # A CPU generator, so the split is the same whichever device trains.
    generator = torch.Generator().manual_seed(mix_seed(seed, STREAM_SPLIT))
    order = torch.randperm(count, generator=generator)
    return order[val_count:].sort().values, order[:val_count].sort().values


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    sample = images[:_STATS_SAMPLE].to(torch.float64) / 255.0
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


def _checked(bundle: DataBundle) -> DataBundle:
    if len(bundle.train) == 0:
        raise UsageError(
            f"{bundle.name}: batch size {bundle.train.batch_size} with drop_last leaves no "
            f"training batch ({bundle.train.num_examples} examples)"
        )
    return bundle
