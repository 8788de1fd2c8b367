"""Where data files are found, what the not-found message says, and verified downloads."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from cnntui.data import sources
from cnntui.data.cifar import write_cifar_batch
from cnntui.data.idx import write_idx
from cnntui.data.sources import locate, user_cache_dir
from cnntui.errors import CnntuiError, UsageError

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Isolated search places: nothing from the real home, environment or /usr/share counts."""
    home, env, system = tmp_path / "home", tmp_path / "env", tmp_path / "system"
    for directory in (home, env, system):
        directory.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("CNNTUI_DATA", raising=False)
    monkeypatch.setenv("CNNTUI_OFFLINE", "1")
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", (system,))
    return {"home": home, "env": env, "system": system, "cache": home / ".cache" / "cnntui"}


def write_idx_set(directory: Path, suffix: str = ".gz", names: tuple[str, ...] = IDX_NAMES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        shape = (4, 28, 28) if "images" in name else (4,)
        write_idx(directory / f"{name}{suffix}", np.zeros(shape, dtype=np.uint8))
    return directory


def test_cache_dir_honours_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "cnntui"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_cache_dir() == tmp_path / ".cache" / "cnntui"


def test_search_order_data_dir_env_cache_system(
    places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = write_idx_set(tmp_path / "explicit")
    env = write_idx_set(places["env"] / "fashion-mnist")
    cache = write_idx_set(places["cache"] / "fashion-mnist")
    system = write_idx_set(places["system"] / "fashion-mnist")
    monkeypatch.setenv("CNNTUI_DATA", str(places["env"]))
    assert locate("fmnist", explicit).directory == explicit
    assert locate("fmnist", explicit).place == "--data-dir"
    assert locate("fmnist").directory == env
    monkeypatch.delenv("CNNTUI_DATA")
    assert locate("fmnist").directory == cache
    assert locate("fmnist").place == "user cache"
    for name in IDX_NAMES:
        (cache / f"{name}.gz").unlink()
    found = locate("fmnist")
    assert (found.directory, found.place) == (system, "system")
    # An explicit folder that lacks the files falls through to the next place.
    assert locate("fmnist", tmp_path / "explicit" / "..").directory == system


@pytest.mark.parametrize(
    "layout", ["", "fashion-mnist", "FashionMNIST/raw"], ids=["flat", "debian", "torchvision"]
)
def test_layouts_inside_a_place(places: dict[str, Path], tmp_path: Path, layout: str) -> None:
    directory = write_idx_set(tmp_path / "root" / layout)
    assert locate("fmnist", tmp_path / "root").directory == directory


def test_unpacked_files_and_dotted_names(places: dict[str, Path], tmp_path: Path) -> None:
    write_idx_set(tmp_path, suffix=".gz")
    write_idx_set(tmp_path, suffix="")
    found = locate("fmnist", tmp_path)
    assert found.files["train-images"].name == "train-images-idx3-ubyte"  # no gunzip needed
    dotted = tmp_path / "dotted"
    write_idx_set(dotted, names=tuple(n.replace("-idx", ".idx") for n in IDX_NAMES))
    assert locate("mnist", dotted).files["test-labels"].name == "t10k-labels.idx1-ubyte.gz"


def test_missing_explicit_data_dir_is_a_usage_error(
    places: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=r"--data-dir .*nope is not a directory"):
        locate("fmnist", tmp_path / "nope")


def test_a_data_dir_from_a_preset_is_named_by_its_key(places: dict[str, Path], tmp_path) -> None:
    """Where the folder came from is how the messages name it, not always as `--data-dir`."""
    with pytest.raises(UsageError, match=r"^mine.toml: data_dir .*nope is not a directory$"):
        locate("fmnist", tmp_path / "nope", data_dir_name="mine.toml: data_dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CnntuiError) as info:
        locate("fmnist", tmp_path / "empty", data_dir_name="mine.toml: data_dir")
    assert f"\n  mine.toml: data_dir {tmp_path / 'empty'} and its" in str(info.value)


def test_offline_not_found_message_names_every_place(
    places: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = tmp_path / "explicit"
    write_idx_set(explicit, names=IDX_NAMES[:2])  # half a data set
    monkeypatch.setenv("CNNTUI_DATA", str(places["env"]))
    with pytest.raises(CnntuiError) as info:
        locate("fmnist", explicit)
    message = str(info.value)
    assert message.startswith("Fashion-MNIST not found. Looked in:")
    for label, root in [
        ("--data-dir", explicit),
        ("$CNNTUI_DATA", places["env"]),
        ("user cache", places["cache"]),
        ("system", places["system"]),
    ]:
        assert f"{label}" in message and str(root) in message
    assert "fashion-mnist/, FashionMNIST/raw/" in message
    assert "does not exist" in message  # the cache was never created
    assert f"{explicit} has train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz" in message
    assert "lacks test-images, test-labels" in message
    assert "download skipped (CNNTUI_OFFLINE is set)" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert f"{places['cache'] / 'fashion-mnist'}/" in message
    assert "--data-dir DIR" in message


def test_download_false_and_unset_env(places: dict[str, Path], monkeypatch) -> None:
    with pytest.raises(CnntuiError) as info:
        locate("cifar10", download=False)
    message = str(info.value)
    assert "CIFAR-10 not found" in message
    assert "(not set)" in message  # $CNNTUI_DATA and --data-dir
    assert "downloads are turned off" in message
    assert "data_batch_1.bin" in message and "cifar-10-batches-bin/" in message


def fake_server(files: dict[str, bytes], calls: list[str]):
    """A fetch that serves `files` by URL base name and records every URL asked for."""

    def fetch(url: str, dest: Path) -> None:
        calls.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in files:
            raise OSError("404 Not Found")
        dest.write_bytes(files[name])

    return fetch


def with_md5s(monkeypatch: pytest.MonkeyPatch, name: str, files: dict[str, bytes]) -> None:
    source = sources.SOURCES[name]
    remote = tuple(
        dataclasses.replace(r, md5=hashlib.md5(files[r.name]).hexdigest()) for r in source.remote
    )
    monkeypatch.setitem(sources.SOURCES, name, dataclasses.replace(source, remote=remote))


def idx_payloads() -> dict[str, bytes]:
    payloads = {}
    for name in IDX_NAMES:
        shape = (2, 28, 28) if "images" in name else (2,)
        header = bytes([0, 0, 8, len(shape)]) + np.asarray(shape, ">u4").tobytes()
        payloads[f"{name}.gz"] = gzip.compress(header + bytes(int(np.prod(shape))))
    return payloads


def test_download_verifies_md5_and_falls_back_to_the_next_mirror(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads = idx_payloads()
    with_md5s(monkeypatch, "mnist", payloads)
    good = dict(payloads)
    calls: list[str] = []
    first_mirror, second_mirror = sources.SOURCES["mnist"].mirrors
    corrupted = {name: data[:-1] + b"!" for name, data in payloads.items()}

    def fetch(url: str, dest: Path) -> None:
        calls.append(url)
        served = corrupted if url.startswith(first_mirror) else good
        dest.write_bytes(served[url.rsplit("/", 1)[-1]])

    logged: list[str] = []
    found = locate("mnist", download=True, fetch=fetch, log=logged.append)
    assert found.downloaded and found.directory == places["cache"] / "mnist"
    assert sorted(p.name for p in found.directory.iterdir()) == sorted(payloads)
    assert calls[:2] == [first_mirror + IDX_NAMES[0] + ".gz", second_mirror + IDX_NAMES[0] + ".gz"]
    assert logged and logged[0].startswith("downloading ")
    # A second call finds the cache and fetches nothing.
    calls.clear()
    assert locate("mnist", download=True, fetch=fetch).place == "user cache"
    assert calls == []


def test_failed_download_says_why(places: dict[str, Path]) -> None:
    calls: list[str] = []
    with pytest.raises(CnntuiError) as info:
        locate("fmnist", download=True, fetch=fake_server({}, calls))
    message = str(info.value)
    assert "download failed" in message and "404 Not Found" in message
    assert calls[0] in message
    assert not list((places["cache"] / "fashion-mnist").glob("*.part"))


def test_wrong_md5_is_rejected(places: dict[str, Path]) -> None:
    payloads = idx_payloads()  # real MD5s in SOURCES: these cannot match
    with pytest.raises(CnntuiError, match=r"MD5 [0-9a-f]{32}, expected 8d4fb7e6c68d591d"):
        locate("fmnist", download=True, fetch=fake_server(payloads, []))


def test_cifar_archive_download_extracts_only_the_batches(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    members = tmp_path / "members"
    members.mkdir()
    for i, name in enumerate([*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]):
        labels = np.full(2, i, dtype=np.uint8)
        write_cifar_batch(members / name, np.zeros((2, 3, 32, 32), np.uint8), labels)
    (members / "batches.meta.txt").write_text("\n".join("abcdefghij") + "\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(members.iterdir()):
            tar.add(path, arcname=f"cifar-10-batches-bin/{path.name}")
        tar.add(members / "test_batch.bin", arcname="../escape.bin")
    archive = {"cifar-10-binary.tar.gz": buffer.getvalue()}
    with_md5s(monkeypatch, "cifar10", archive)
    found = locate("cifar10", download=True, fetch=fake_server(archive, []))
    assert found.directory == places["cache"] / "cifar-10-batches-bin"
    assert len(found.files) == 7  # six batches and the class names
    assert not (places["cache"] / "cifar-10-binary.tar.gz").exists()
    assert not list(places["home"].rglob("escape.bin"))


def test_mirrors_and_md5s_match_torchvision() -> None:
    from torchvision.datasets import MNIST, FashionMNIST

    for name, dataset in [("mnist", MNIST), ("fmnist", FashionMNIST)]:
        source = sources.SOURCES[name]
        assert list(source.mirrors) == list(dataset.mirrors)
        assert [(r.name, r.md5) for r in source.remote] == list(dataset.resources)
