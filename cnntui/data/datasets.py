"""The data set catalogue and data set specs (`fmnist`, `synthetic:3x32x32:10`, `folder:PATH`).

Importing this module is cheap (no torch), so the CLI and config can validate names early.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from cnntui.errors import UsageError
from cnntui.wording import did_you_mean


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation: random crop after zero padding, random horizontal flip."""

    crop_padding: int = 0
    hflip: bool = False

    @property
    def enabled(self) -> bool:
        """Whether this changes anything at all."""
        return self.crop_padding > 0 or self.hflip


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    summary: str
    input_shape: tuple[int, int, int] | None  # (C, H, W) as stored; None when files decide
    classes: tuple[str, ...]  # empty when files decide
    mean: tuple[float, ...]  # per channel, on the 0..1 scale
    std: tuple[float, ...]
    augmentation: Augmentation  # what augment=True means for this data set
    aliases: tuple[str, ...] = ()
    # The first labels of the official train and test files: MNIST and Fashion-MNIST share
    # format, shapes and sizes, so these tell a copy of one under the other's name.
    first_labels: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    @property
    def num_classes(self) -> int | None:
        """Class count when the catalogue knows it."""
        return len(self.classes) or None


# Channel statistics of the training sets, as commonly quoted (0..1 scale).
DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            "fmnist",
            "Fashion-MNIST",
            "Zalando's 28x28 grey clothing images, 60,000 train / 10,000 test",
            (1, 28, 28),
            (
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ),
            (0.2860,),
            (0.3530,),
            Augmentation(crop_padding=2, hflip=True),
            aliases=("fashion-mnist", "fashion_mnist", "fashionmnist"),
            first_labels=((9, 0, 0, 3, 0, 2, 7, 2, 5, 5), (9, 2, 1, 1, 6, 1, 4, 6, 5, 7)),
        ),
        DatasetInfo(
            "mnist",
            "MNIST",
            "28x28 grey handwritten digits, 60,000 train / 10,000 test",
            (1, 28, 28),
            tuple(str(digit) for digit in range(10)),
            (0.1307,),
            (0.3081,),
            # Flipped digits are other shapes, so only shifts.
            Augmentation(crop_padding=2, hflip=False),
            first_labels=((5, 0, 4, 1, 9, 2, 1, 3, 1, 4), (7, 2, 1, 0, 4, 1, 4, 9, 5, 9)),
        ),
        DatasetInfo(
            "cifar10",
            "CIFAR-10",
            "32x32 colour images in 10 classes, 50,000 train / 10,000 test (binary version)",
            (3, 32, 32),
            (
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ),
            (0.4914, 0.4822, 0.4465),
            (0.2470, 0.2435, 0.2616),
            Augmentation(crop_padding=4, hflip=True),
            aliases=("cifar-10", "cifar_10", "cifar"),
        ),
        DatasetInfo(
            "synthetic",
            "Synthetic",
            "deterministic learnable random images: synthetic[:CxHxW[:CLASSES]]",
            None,
            (),
            (),  # measured from the generated images
            (),
            Augmentation(crop_padding=0, hflip=True),
        ),
        DatasetInfo(
            "folder",
            "Image folder",
            "your images: folder:PATH with train/ and test/ (or val/) class subfolders",
            None,
            (),
            # ImageNet statistics: a reasonable default for natural photographs.
            (0.485, 0.456, 0.406),
            (0.229, 0.224, 0.225),
            Augmentation(crop_padding=0, hflip=True),
        ),
    ]
}
_ALIASES = {alias: info.name for info in DATASETS.values() for alias in info.aliases}

SYNTHETIC_DEFAULT_SHAPE = (1, 28, 28)
SYNTHETIC_DEFAULT_CLASSES = 10
SYNTHETIC_DEFAULT_TRAIN = 4000
SYNTHETIC_DEFAULT_TEST = 1000


@dataclass(frozen=True)
class DataSpec:
    """Which data set: a catalogue name plus the parameters `synthetic` and `folder` take."""

    name: str
    path: Path | None = None  # folder: the directory holding train/ and test/
    shape: tuple[int, int, int] | None = None  # synthetic: (C, H, W)
    num_classes: int | None = None  # synthetic
    train_size: int | None = None  # synthetic
    test_size: int | None = None  # synthetic
    seed: int = 0  # synthetic: the data's own seed, independent of the run seed

    @property
    def info(self) -> DatasetInfo:
        """The catalogue entry."""
        return DATASETS[self.name]

    @property
    def stored_shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) of the stored images, as far as the spec and the catalogue say without
        reading files: synthetic's defaults filled in; None where only the files know."""
        if self.name == "synthetic":
            return self.shape or SYNTHETIC_DEFAULT_SHAPE
        return self.info.input_shape

    @property
    def class_count(self) -> int | None:
        """The number of classes, likewise: synthetic's default filled in."""
        if self.name == "synthetic":
            return self.num_classes or SYNTHETIC_DEFAULT_CLASSES
        return self.info.num_classes

    def __str__(self) -> str:
        if self.name == "folder":
            return f"folder:{self.path}"
        if self.name != "synthetic":
            return self.name
        c, h, w = self.shape or SYNTHETIC_DEFAULT_SHAPE
        text = f"synthetic:{c}x{h}x{w}:{self.class_count}"
        for key, value, default in (
            ("train", self.train_size, None),
            ("test", self.test_size, None),
            ("seed", self.seed, 0),
        ):
            if value != default:
                text += f":{key}={value}"
        return text


def resolve_dataset_name(name: str) -> str:
    """The catalogue name for `name` or an alias, or a UsageError naming the closest ones."""
    key = name.strip().lower()
    if key in DATASETS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    choices = [*DATASETS, *_ALIASES]
    hint = did_you_mean(key, choices)
    raise UsageError(
        f"unknown data set {name!r}{hint}; known: {', '.join(DATASETS)} "
        "(synthetic:CxHxW:CLASSES, folder:PATH)"
    )


def parse_data_spec(spec: str | DataSpec) -> DataSpec:
    """Parse `fmnist`, `synthetic:3x32x32:10:train=2000`, `folder:~/pets` into a DataSpec."""
    if isinstance(spec, DataSpec):
        return replace(spec, name=resolve_dataset_name(spec.name))
    head, _, rest = spec.strip().partition(":")
    name = resolve_dataset_name(head)
    if name == "folder":
        if not rest:
            raise UsageError("folder needs a path: folder:PATH (a directory with train/ and test/)")
        return DataSpec(name, path=Path(rest).expanduser())
    if name == "synthetic":
        return _parse_synthetic(spec, rest)
    if rest:
        raise UsageError(f"data set {name!r} takes no parameters, got {spec!r}")
    return DataSpec(name)


def saved_data_spec(dataset: str, source: str | None) -> str:
    """The data set a saved run read, to read again from any folder: `folder:PATH` typed
    relative to the folder the run was started in becomes the folder it read (`source`, the
    checkpoint's data_source); anything else, and older checkpoints without it, as saved."""
    try:
        spec = parse_data_spec(dataset)
    except UsageError:  # said where the data set is loaded
        return dataset
    if spec.name != "folder" or spec.path is None or spec.path.is_absolute():
        return dataset
    if not source or not Path(source).is_absolute():
        return dataset
    return str(replace(spec, path=Path(source)))


def _parse_synthetic(spec: str, rest: str) -> DataSpec:
    shape: tuple[int, int, int] | None = None
    classes: int | None = None
    sizes: dict[str, int] = {}
    for part in filter(None, rest.split(":")):
        key, eq, value = part.partition("=")
        try:
            if eq:
                if key not in ("train", "test", "seed"):
                    raise UsageError(
                        f"unknown synthetic parameter {key!r} in {spec!r} (train, test, seed)"
                    )
                sizes[key] = int(value)
            elif "x" in part:
                dims = tuple(int(d) for d in part.lower().split("x"))
                if len(dims) == 2:
                    dims = (1, *dims)
                if len(dims) != 3 or min(dims) < 1:
                    raise ValueError
                shape = (dims[0], dims[1], dims[2])
            else:
                classes = int(part)
        except ValueError:
            raise UsageError(
                f"bad synthetic spec {spec!r}: expected synthetic:CxHxW:CLASSES"
                "[:train=N][:test=N][:seed=N], e.g. synthetic:3x32x32:10"
            ) from None
    if classes is not None and classes < 2:
        raise UsageError(f"synthetic needs at least 2 classes, got {classes}")
    if any(sizes.get(k, 1) < 1 for k in ("train", "test")):
        raise UsageError(f"synthetic train and test sizes must be positive in {spec!r}")
    return DataSpec(
        "synthetic",
        shape=shape,
        num_classes=classes,
        train_size=sizes.get("train"),
        test_size=sizes.get("test"),
        seed=sizes.get("seed", 0),
    )
