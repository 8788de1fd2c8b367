"""Users' own images: `folder:PATH` with train/ and test/ (or val/), one subfolder per class.

Images are decoded and resized to one size by DataLoader workers (they vary in size on disk, so
this cannot happen on the device), travel as uint8 through pinned memory, and then get the same
device-side transforms as the built-in data sets.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from cnntui.data.loader import STREAM_AUGMENT, STREAM_ORDER, batches_per_epoch
from cnntui.data.rawfile import DataFileError
from cnntui.data.seeding import mix_seed
from cnntui.data.transforms import BatchTransform
from cnntui.errors import CnntuiError, UsageError

TEST_DIR_NAMES = ("test", "val")


@dataclass
class FolderSplits:
    train: Dataset  # yields (uint8 (C, H, W), int)
    test: Dataset
    classes: list[str]
    input_shape: tuple[int, int, int]
    source: str


def open_image_folders(root: Path, size: int | Sequence[int] | None = None) -> FolderSplits:
    """Index root/train and root/test (or root/val); images become RGB uint8 of one size."""
    from PIL import Image
    from torchvision import datasets, transforms

    root = Path(root).expanduser()
    if not root.is_dir():
        # A path the user named that is no folder is usage (exit 2), as a --data-dir is.
        why = "is a file, not a directory" if root.exists() else "no such directory"
        raise UsageError(f"folder:{root}: {why}")
    train_dir = root / "train"
    test_dir = next((root / n for n in TEST_DIR_NAMES if (root / n).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise CnntuiError(
            f"folder:{root} needs train/ and test/ (or val/) subfolders, each with one folder "
            "of images per class (train/cat/1.jpg, test/cat/2.jpg, ...)"
        )
    train = _image_folder(datasets, train_dir)
    if len(train.classes) < 2:
        # One class trains to loss 0 and 100% accuracy at once: a run that says nothing true.
        raise CnntuiError(
            f"folder:{root}: {train_dir} has one class folder ({train.classes[0]}/), and a "
            "classifier needs two or more (train/cat/, train/dog/, ...)"
        )
    if size is None:
        first_path = train.samples[0][0]
        try:
            with Image.open(first_path) as first:
                width, height = first.size
        except (OSError, Image.DecompressionBombError) as exc:
            raise unreadable_image(first_path, exc) from exc
    elif isinstance(size, int):
        height = width = size  # photos differ in aspect; a batch needs one shape
    else:
        height, width = (int(s) for s in size)
    pipeline = transforms.Compose(
        [
            transforms.Resize((height, width), antialias=True),
            transforms.PILToTensor(),
        ]
    )
    train.transform = pipeline
    test = _image_folder(datasets, test_dir)
    test.transform = pipeline
    if test.classes != train.classes:
        raise CnntuiError(
            f"{test_dir} has classes {test.classes} but {train_dir} has {train.classes}: "
            "both need the same class folders"
        )
    # The source as an absolute path: a run records it (its checkpoints' data_source), and
    # `folder:imgs` is then found from any folder `eval` or `--resume` is run in.
    source = os.path.abspath(root)
    return FolderSplits(train, test, list(train.classes), (3, height, width), source)


def _image_folder(datasets, directory: Path):
    try:
        return datasets.ImageFolder(str(directory))
    except (FileNotFoundError, OSError) as exc:
        raise CnntuiError(f"{directory}: {exc}") from exc


def unreadable_image(path: str | Path, exc: Exception) -> DataFileError:
    """The refusal of an image file PIL cannot decode, naming it: a folder of photos can hold a
    damaged download or a file that is no image at all under an image's extension."""
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        reason = "not an image in a format PIL reads"
    else:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return DataFileError(path, f"cannot read this image ({reason}): remove or replace it")


@dataclass(frozen=True)
class _Unreadable:
    """Stands in for a sample a worker could not decode, so the error is raised in the training
    process as a DataFileError; raised in a worker, it came back as the worker's traceback."""

    path: str
    reason: str


class _Guarded(Dataset):
    """A dataset whose unreadable images become `_Unreadable` samples instead of exceptions."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int):
        from PIL import Image

        try:
            return self.dataset[index]
        except (OSError, Image.DecompressionBombError) as exc:
            path = str(self.dataset.samples[index][0])  # type: ignore[attr-defined]
            return _Unreadable(path, unreadable_image(path, exc).problem)


def _collate(samples: list):
    bad = next((sample for sample in samples if isinstance(sample, _Unreadable)), None)
    return bad if bad is not None else default_collate(samples)


class _EpochSampler(Sampler[int]):
    """Indices in epoch order, from a start position (to resume mid-epoch without decoding)."""

    def __init__(self, indices: torch.Tensor, shuffle: bool, seed: int) -> None:
        self.indices = indices
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.start = 0

    def __iter__(self) -> Iterator[int]:
        order = self.indices
        if self.shuffle:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, STREAM_ORDER, self.epoch))
            order = order[torch.randperm(len(order), generator=generator)]
        return iter(order[self.start :].tolist())

    def __len__(self) -> int:
        return len(self.indices) - self.start


class FolderLoader:
    """The DeviceLoader interface over a torch DataLoader with workers and pinned memory."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        batch_size: int,
        transform: BatchTransform,
        indices: torch.Tensor | None = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        num_workers: int | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.transform = transform
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        if indices is None:
            indices = torch.arange(len(dataset))  # type: ignore[arg-type]
        self._sampler = _EpochSampler(indices, shuffle, seed)
        if num_workers is None:
            num_workers = min(4, os.cpu_count() or 1)
        self._loader = DataLoader(
            _Guarded(dataset),
            batch_size=batch_size,
            collate_fn=_collate,
            sampler=self._sampler,
            drop_last=drop_last,
            num_workers=num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=num_workers > 0,
        )
        self._generator = torch.Generator(device=self.device)
        self._start_batch = 0

    @property
    def num_examples(self) -> int:
        """Examples per epoch."""
        return len(self._sampler.indices)

    def __len__(self) -> int:
        return batches_per_epoch(self.num_examples, self.batch_size, self.drop_last)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select epoch `epoch`'s order; the next pass starts at batch `start_batch`."""
        self.epoch = epoch
        self._start_batch = start_batch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        start_batch, self._start_batch = self._start_batch, 0
        self._sampler.epoch = self.epoch
        self._sampler.start = start_batch * self.batch_size
        augment = self.transform.augmentation is not None
        for b, batch in enumerate(self._loader, start=start_batch):
            if isinstance(batch, _Unreadable):
                raise DataFileError(batch.path, batch.reason)
            images, labels = batch
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            generator = None
            if augment:
                seed = mix_seed(self.seed, STREAM_AUGMENT, self.epoch, b)
                generator = self._generator.manual_seed(seed)
            yield self.transform(images, generator), labels
