"""One rule for a data set's exit code, which a script can rely on (README, Exit codes):

- 2 (usage): what the user wrote is wrong: a malformed or unknown data set spec, or a folder
  they named (`--data-dir`, `folder:PATH`, a preset's or the resumed run's `data_dir`) that is
  not there or is no directory;
- 1 (error): what is on disk is: the files are in none of the places searched, or a folder or
  file that is there cannot be used (corrupt, another data set's, no train/ and test/, one
  class, no images)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_data_bundle import isolated, write_folder, write_mnist

from cnntui.data import load_data
from cnntui.data import sources as sources_module
from cnntui.errors import EXIT_ERROR, EXIT_USAGE, describe_failure

__all__ = ["isolated"]  # test_data_bundle's autouse fixture: offline, no user cache


@pytest.fixture(autouse=True)
def no_system_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nor a system copy: no place searched holds the data set."""
    monkeypatch.setattr(sources_module, "SYSTEM_DATA_DIRS", (tmp_path / "system",))


def pets(tmp_path: Path) -> Path:
    write_folder(tmp_path / "pets")
    return tmp_path / "pets"


def one_class(tmp_path: Path) -> Path:
    root = pets(tmp_path)
    for split in ("train", "val"):
        for image in (root / split / "dog").iterdir():
            image.unlink()
        (root / split / "dog").rmdir()
    return root


def no_images(tmp_path: Path) -> Path:
    root = pets(tmp_path)
    for image in (root / "train" / "dog").iterdir():
        image.unlink()
    return root


def other_classes(tmp_path: Path) -> Path:
    root = pets(tmp_path)
    (root / "val" / "dog").rename(root / "val" / "cow")
    return root


def a_file(tmp_path: Path) -> Path:
    (tmp_path / "pets.zip").write_bytes(b"PK")
    return tmp_path / "pets.zip"


def corrupt_mnist(tmp_path: Path) -> Path:
    write_mnist(tmp_path / "mine")
    (tmp_path / "mine" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    return tmp_path / "mine"


def empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


Case = Callable[[Path], tuple[str, Path | None]]
CASES: dict[str, tuple[Case, int, str]] = {
    # What the user wrote: usage.
    "unknown-name": (lambda t: ("cifar01", None), EXIT_USAGE, "unknown data set"),
    "bad-synthetic": (lambda t: ("synthetic:1x", None), EXIT_USAGE, "bad synthetic spec"),
    "folder-no-path": (lambda t: ("folder:", None), EXIT_USAGE, "folder needs a path"),
    "folder-missing": (lambda t: (f"folder:{t / 'nope'}", None), EXIT_USAGE, "no such directory"),
    "folder-a-file": (lambda t: (f"folder:{a_file(t)}", None), EXIT_USAGE, "not a directory"),
    "data-dir-missing": (lambda t: ("mnist", t / "nope"), EXIT_USAGE, "is not a directory"),
    "data-dir-a-file": (lambda t: ("mnist", a_file(t)), EXIT_USAGE, "is not a directory"),
    # What is on disk, or is not: error.
    "not-found": (lambda t: ("mnist", empty(t)), EXIT_ERROR, "MNIST not found"),
    "corrupt-file": (lambda t: ("mnist", corrupt_mnist(t)), EXIT_ERROR, "gzip"),
    "folder-no-splits": (lambda t: (f"folder:{empty(t)}", None), EXIT_ERROR, "needs train/"),
    "folder-one-class": (lambda t: (f"folder:{one_class(t)}", None), EXIT_ERROR, "one class"),
    "folder-no-images": (lambda t: (f"folder:{no_images(t)}", None), EXIT_ERROR, "no valid file"),
    "folder-other-classes": (
        lambda t: (f"folder:{other_classes(t)}", None),
        EXIT_ERROR,
        "the same class folders",
    ),
}


@pytest.mark.parametrize(("case", "code", "said"), CASES.values(), ids=CASES.keys())
def test_each_data_set_problem_has_the_rules_exit_code(
    tmp_path: Path, case: Case, code: int, said: str
) -> None:
    spec, data_dir = case(tmp_path)
    with pytest.raises(Exception) as caught:
        load_data(spec, data_dir=data_dir, num_workers=0)
    message, exit_code = describe_failure(caught.value)
    assert (exit_code, "Traceback" in message) == (code, False), message
    assert said in message
