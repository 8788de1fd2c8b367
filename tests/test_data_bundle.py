"""load_data end to end: real Fashion-MNIST, small MNIST/CIFAR files, synthetic and folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from cnntui.data import DATASETS, Augmentation, DataFileError, load_data, make_synthetic
from cnntui.data import sources as sources_module
from cnntui.data.bundle import _split_indices
from cnntui.data.cifar import write_cifar_batch
from cnntui.data.idx import write_idx
from cnntui.errors import CnntuiError, UsageError

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No downloads, no user cache; the system folder stays so the real data set is found."""
    monkeypatch.setenv("CNNTUI_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("CNNTUI_DATA", raising=False)


def require_fashion_mnist() -> None:
    if FASHION_MNIST.is_dir():
        return
    message = f"{FASHION_MNIST} is missing: apt-get install dataset-fashion-mnist"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_real_fashion_mnist() -> None:
    require_fashion_mnist()
    data = load_data("fmnist", "cpu", batch_size=1000, data_dir=FASHION_MNIST)
    assert data.train.num_examples == 60_000 and data.test.num_examples == 10_000
    assert data.val is None
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert data.source == str(FASHION_MNIST)
    train = data.train
    assert train.images.shape == (60_000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert sorted(train.labels.unique().tolist()) == list(range(10))
    assert train.labels.bincount().tolist() == [6000] * 10  # the official split is balanced
    means = [x.mean() for x, _ in data.test]
    assert abs(float(torch.stack(means).mean())) < 0.05, "normalised with the set's mean and std"


def write_mnist(directory: Path, train: int = 30, test: int = 10) -> None:
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, count in [("train", train), ("t10k", test)]:
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", np.arange(count, dtype=np.uint8) % 10)


def test_mnist_from_files_with_resize_and_val_split(tmp_path: Path) -> None:
    write_mnist(tmp_path / "MNIST" / "raw")
    data = load_data("mnist", batch_size=8, data_dir=tmp_path, val_split=0.2, resize=96)
    assert data.classes == [str(d) for d in range(10)]
    assert data.input_shape == (1, 96, 96)
    assert (data.train.num_examples, data.val.num_examples, data.test.num_examples) == (24, 6, 10)
    x, y = next(iter(data.val))
    assert x.shape == (6, 1, 96, 96) and y.dtype == torch.int64


def test_bad_label_file_names_the_file(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(10, 12, dtype=np.uint8))
    with pytest.raises(CnntuiError, match=r"t10k-labels-idx1-ubyte: label 12 at index 0"):
        load_data("mnist", data_dir=tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(9, dtype=np.uint8))
    with pytest.raises(CnntuiError, match=r"has 9 labels but t10k-images-idx3-ubyte\.gz has 10"):
        load_data("mnist", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("asked", "held", "labels"),
    [
        ("mnist", "Fashion-MNIST", (9, 0, 0, 3, 0, 2, 7, 2, 5, 5)),
        ("fmnist", "MNIST", (5, 0, 4, 1, 9, 2, 1, 3, 1, 4)),
    ],
)
def test_the_other_idx_data_set_under_the_names_asked_for_is_refused(
    tmp_path: Path, asked: str, held: str, labels: tuple[int, ...]
) -> None:
    # Same format, shapes and sizes: --dataset mnist --data-dir on a Fashion-MNIST copy trained
    # on clothes labelled as digits, and said nothing.
    write_mnist(tmp_path)
    train_labels = np.array([*labels, *range(20)], dtype=np.uint8) % 10
    write_idx(tmp_path / "train-labels-idx1-ubyte", train_labels)
    with pytest.raises(DataFileError) as caught:
        load_data(asked, data_dir=tmp_path)
    assert caught.value.path == tmp_path / "train-labels-idx1-ubyte"
    assert caught.value.problem.startswith(
        f"holds {held}'s labels, not {DATASETS[asked].title}'s (its first labels are those of "
        f"{held}'s training set)"
    )
    assert caught.value.problem.endswith(
        f"--dataset {next(n for n, i in DATASETS.items() if i.title == held)}"
    )


def test_cifar10_from_binary_files(tmp_path: Path) -> None:
    directory = tmp_path / "cifar-10-batches-bin"
    directory.mkdir()
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]:
        images = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
        write_cifar_batch(directory / name, images, rng.integers(0, 10, 4))
    (directory / "batches.meta.txt").write_text("\n".join(f"thing{i}" for i in range(10)))
    data = load_data("cifar10", batch_size=5, data_dir=tmp_path, augment=True, channels_last=True)
    assert data.classes[3] == "thing3" and data.input_shape == (3, 32, 32)
    assert data.train.num_examples == 20 and len(data.train) == 4
    x, _ = next(iter(data.train))
    assert x.shape == (5, 3, 32, 32) and x.is_contiguous(memory_format=torch.channels_last)
    assert data.train.transform.augmentation == Augmentation(crop_padding=4, hflip=True)
    assert data.test.transform.augmentation is None


def test_not_found_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources_module, "SYSTEM_DATA_DIRS", (tmp_path / "system",))
    with pytest.raises(CnntuiError) as info:
        load_data("fmnist")
    assert "Fashion-MNIST not found" in str(info.value)
    assert str(tmp_path / "system") in str(info.value)


def test_unknown_data_set() -> None:
    with pytest.raises(UsageError, match="did you mean cifar10"):
        load_data("cifar01")


def test_val_split_is_disjoint_and_deterministic() -> None:
    train, val = _split_indices(1000, 0.1, seed=7)
    assert len(val) == 100 and len(train) == 900
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted([*train.tolist(), *val.tolist()]) == list(range(1000))
    again_train, again_val = _split_indices(1000, 0.1, seed=7)
    assert torch.equal(val, again_val) and torch.equal(train, again_train)
    assert not torch.equal(val, _split_indices(1000, 0.1, seed=8)[1])


def test_val_split_through_load_data() -> None:
    first = load_data("synthetic:1x8x8:4:train=200:test=40", val_split=0.25, seed=3)
    second = load_data("synthetic:1x8x8:4:train=200:test=40", val_split=0.25, seed=3)
    assert first.val.num_examples == 50 and first.train.num_examples == 150
    assert torch.equal(first.val.images, second.val.images)
    train_rows = {bytes(row.numpy()) for row in first.train.images}
    assert not any(bytes(row.numpy()) in train_rows for row in first.val.images)
    with pytest.raises(UsageError, match="val_split"):
        load_data("synthetic", val_split=1.0)


def test_drop_last_with_too_big_a_batch() -> None:
    with pytest.raises(UsageError, match="leaves no training batch"):
        load_data("synthetic:1x4x4:2:train=10:test=5", batch_size=16, drop_last=True)
    data = load_data("synthetic:1x4x4:2:train=10:test=5", batch_size=4, drop_last=True)
    assert len(data.train) == 2 and len(data.test) == 2, "evaluation keeps the last batch"


def test_synthetic_is_deterministic_and_shaped() -> None:
    first, second = (
        make_synthetic((3, 16, 16), 5, 50, 20, seed=1),
        make_synthetic((3, 16, 16), 5, 50, 20, seed=1),
    )
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.test_labels, second.test_labels)
    assert first.train_images.shape == (50, 3, 16, 16)
    assert first.train_labels.bincount().tolist() == [10] * 5
    other = make_synthetic((3, 16, 16), 5, 50, 20, seed=2)
    assert not torch.equal(first.train_images, other.train_images)
    data = load_data("synthetic:3x16x16:5", batch_size=64)
    assert data.input_shape == (3, 16, 16) and data.num_classes == 5
    assert data.train.num_examples == 4000 and data.test.num_examples == 1000
    x = torch.cat([x for x, _ in data.test])
    assert x.mean().abs() < 0.05 and (x.std() - 1).abs() < 0.05


def test_synthetic_is_learnable() -> None:
    data = load_data("synthetic", batch_size=200, seed=0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))

    def accuracy() -> float:
        with torch.no_grad():
            hits = sum(int((model(x).argmax(1) == y).sum()) for x, y in data.test)
        return hits / data.test.num_examples

    before = accuracy()
    for x, y in data.train:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        with torch.no_grad():  # plain SGD: torch.optim's first import costs seconds
            for parameter in model.parameters():
                parameter -= 0.05 * parameter.grad
    assert accuracy() > max(0.5, before + 0.3)


def write_folder(root: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in [("train", 6), ("val", 2)]:
        for label in ("cat", "dog"):
            directory = root / split / label
            directory.mkdir(parents=True)
            for i in range(count):
                size = (20 + i, 16)  # sizes differ, as photos do
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(directory / f"{i}.png")


def test_image_folder(tmp_path: Path) -> None:
    write_folder(tmp_path / "pets")
    data = load_data(
        f"folder:{tmp_path / 'pets'}", batch_size=4, resize=12, num_workers=0, val_split=0.25
    )
    assert data.classes == ["cat", "dog"] and data.input_shape == (3, 12, 12)
    assert (data.train.num_examples, data.val.num_examples, data.test.num_examples) == (9, 3, 4)
    assert len(data.train) == 3
    data.train.set_epoch(1)
    labels = []
    for x, y in data.train:
        assert x.shape[1:] == (3, 12, 12) and x.dtype == torch.float32
        labels += y.tolist()
    assert len(labels) == 9
    data.train.set_epoch(1, start_batch=2)
    assert [len(y) for _, y in data.train] == [1]


@pytest.mark.parametrize("workers", [0, 1])
def test_an_image_folder_file_that_is_no_image_is_named(tmp_path: Path, workers: int) -> None:
    # PIL's UnidentifiedImageError came up as a traceback, from inside a DataLoader worker.
    write_folder(tmp_path / "pets")
    bad = tmp_path / "pets" / "train" / "cat" / "9.png"
    bad.write_text("not a picture")
    data = load_data(f"folder:{tmp_path / 'pets'}", batch_size=4, resize=12, num_workers=workers)
    with pytest.raises(DataFileError) as caught:
        for _ in data.train:
            pass
    assert caught.value.path == bad
    assert str(caught.value) == (
        f"{bad}: cannot read this image (not an image in a format PIL reads): remove or replace it"
    )
    # Without --resize the first image's size is read when the folder is opened.
    (tmp_path / "pets" / "train" / "cat" / "0.png").write_bytes(b"")
    with pytest.raises(DataFileError, match=r"0\.png: cannot read this image"):
        load_data(f"folder:{tmp_path / 'pets'}", num_workers=0)


def test_an_image_folder_of_one_class_is_refused(tmp_path: Path) -> None:
    # It trained to loss 0 and 100% accuracy at its first step.
    write_folder(tmp_path / "pets")
    for split in ("train", "val"):
        for image in (tmp_path / "pets" / split / "dog").iterdir():
            image.unlink()
        (tmp_path / "pets" / split / "dog").rmdir()
    with pytest.raises(CnntuiError) as caught:
        load_data(f"folder:{tmp_path / 'pets'}", num_workers=0)
    assert str(caught.value) == (
        f"folder:{tmp_path / 'pets'}: {tmp_path / 'pets' / 'train'} has one class folder (cat/), "
        "and a classifier needs two or more (train/cat/, train/dog/, ...)"
    )


def test_image_folder_needs_train_and_test(tmp_path: Path) -> None:
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(CnntuiError, match="needs train/ and test/"):
        load_data(f"folder:{tmp_path}", num_workers=0)
    with pytest.raises(UsageError, match="no such directory"):
        load_data(f"folder:{tmp_path / 'nope'}", num_workers=0)


def test_a_data_dir_the_data_did_not_come_from_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--data-dir is searched first, then the other places: a run that read its data elsewhere
    must say so, or a user who meant their own copy trains on another without knowing."""
    write_mnist(tmp_path / "mine" / "MNIST" / "raw")
    monkeypatch.setenv("CNNTUI_DATA", str(tmp_path / "mine"))
    empty = tmp_path / "empty"
    empty.mkdir()
    data = load_data("mnist", batch_size=8, data_dir=empty)
    assert data.source == str(tmp_path / "mine" / "MNIST" / "raw")
    assert data.passed_over(empty) == (
        f"--data-dir {empty} holds no MNIST; it was read from {data.source}"
    )
    # Read from the folder named, or one inside it: nothing to say.
    assert (
        load_data("mnist", batch_size=8, data_dir=tmp_path / "mine").passed_over(tmp_path / "mine")
        is None
    )
    assert data.passed_over(None) is None
    # Part of a copy: its files were seen, and the missing ones are named. It said "holds no".
    partial = tmp_path / "partial"
    write_mnist(partial / "MNIST" / "raw")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"):
        (partial / "MNIST" / "raw" / name).unlink()
    assert load_data("mnist", batch_size=8, data_dir=partial).passed_over(partial) == (
        f"--data-dir {partial} holds only part of MNIST (its MNIST/raw/ lacks test-images, "
        f"test-labels); it was read from {data.source}"
    )
    synthetic = load_data("synthetic:1x8x8:2:train=8:test=4", batch_size=4, data_dir=empty)
    assert synthetic.passed_over(empty) == (
        f"--data-dir {empty} is not used: synthetic:1x8x8:2:train=8:test=4 data is generated, "
        "not read"
    )


def test_a_data_env_that_names_no_folder_is_named_when_the_data_came_from_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$CNNTUI_DATA set to a folder that does not exist (a typo, a disk not mounted) was skipped
    in silence, and the run trained on the copy found next: the user who set it never knew."""
    cache = tmp_path / "home" / ".cache" / "cnntui" / "mnist"
    write_mnist(cache)
    gone = tmp_path / "gone"
    monkeypatch.setenv("CNNTUI_DATA", str(gone))
    data = load_data("mnist", batch_size=8)
    assert data.source == str(cache)
    assert data.passed_over(None) == (
        f"$CNNTUI_DATA={gone} does not exist; MNIST was read from {cache}"
    )
    # With a --data-dir that held no copy either: both in one warning.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_data("mnist", batch_size=8, data_dir=empty).passed_over(empty) == (
        f"--data-dir {empty} holds no MNIST and $CNNTUI_DATA={gone} does not exist; "
        f"it was read from {cache}"
    )
    # A file where a folder should be.
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("CNNTUI_DATA", str(tmp_path / "file"))
    assert load_data("mnist", batch_size=8).passed_over(None) == (
        f"$CNNTUI_DATA={tmp_path / 'file'} is not a directory; MNIST was read from {cache}"
    )


def test_a_data_env_is_not_named_where_it_did_not_matter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "home" / ".cache" / "cnntui" / "mnist"
    write_mnist(cache)
    # A folder that exists but lacks this data set may hold the user's others: no noise.
    (tmp_path / "other").mkdir()
    monkeypatch.setenv("CNNTUI_DATA", str(tmp_path / "other"))
    assert load_data("mnist", batch_size=8).passed_over(None) is None
    monkeypatch.setenv("CNNTUI_DATA", str(tmp_path / "gone"))
    # --data-dir held the data: $CNNTUI_DATA was never searched.
    assert load_data("mnist", batch_size=8, data_dir=cache).passed_over(cache) is None
    # Generated data searches no folder.
    assert load_data("synthetic:1x8x8:2:train=8:test=4", batch_size=4).passed_over(None) is None


def test_a_data_env_that_names_no_folder_is_marked_in_the_not_found_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNNTUI_DATA", str(tmp_path / "gone"))
    with pytest.raises(CnntuiError) as caught:
        load_data("mnist", batch_size=8)
    assert (
        f"\n  $CNNTUI_DATA   {tmp_path / 'gone'} and its mnist/, MNIST/raw/  [does not exist]\n"
        in (str(caught.value))
    )
