"""Where a data set's files are found, and fetching them when they are nowhere.

Search order: an explicit data directory (`--data-dir`), `$CNNTUI_DATA`, the user cache
(`$XDG_CACHE_HOME/cnntui` or `~/.cache/cnntui`), system copies (`/usr/share/datasets`, where
Debian's `dataset-fashion-mnist` installs), then a download into the user cache. Inside each place
both a flat layout and the usual subfolders (`fashion-mnist/`, `FashionMNIST/raw/` as torchvision
writes it, `cifar-10-batches-bin/`) are accepted.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cnntui.data.rawfile import md5_of
from cnntui.errors import CnntuiError, UsageError

DATA_ENV = "CNNTUI_DATA"
OFFLINE_ENV = "CNNTUI_OFFLINE"
# Module-level so tests can point it at a temporary directory.
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)
DOWNLOAD_TIMEOUT_S = 30

Fetch = Callable[[str, Path], None]
Log = Callable[[str], None]


@dataclass(frozen=True)
class RequiredFile:
    key: str  # how readers ask for it
    names: tuple[str, ...]  # accepted file names, the fastest to read first


@dataclass(frozen=True)
class RemoteFile:
    name: str
    md5: str
    # For an archive: member paths to extract, each saved under its base name.
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileSource:
    title: str
    files: tuple[RequiredFile, ...]
    optional: tuple[RequiredFile, ...]
    subdirs: tuple[str, ...]  # tried inside every place before the place itself
    cache_subdir: str  # where downloads land inside the user cache
    mirrors: tuple[str, ...]
    remote: tuple[RemoteFile, ...]
    install_hint: str | None = None  # a package that provides the files


def _idx_file(key: str, name: str, dotted: str) -> RequiredFile:
    # Unpacked first (no gunzip), then the official .gz, then the dotted names of some mirrors.
    return RequiredFile(key, (name, f"{name}.gz", dotted, f"{dotted}.gz"))


_IDX_FILES = (
    _idx_file("train-images", "train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    _idx_file("train-labels", "train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    _idx_file("test-images", "t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    _idx_file("test-labels", "t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
)
_CIFAR_BATCHES = (*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin")

# Mirrors and MD5s of the official .gz files: the same as torchvision.datasets.MNIST and
# FashionMNIST hold in `mirrors` and `resources` (a test checks they agree). torchvision's CIFAR10
# fetches the pickled Python version; the binary archive's MD5 is from the CIFAR-10 page.
SOURCES: dict[str, FileSource] = {
    "fmnist": FileSource(
        "Fashion-MNIST",
        _IDX_FILES,
        (),
        ("fashion-mnist", "FashionMNIST/raw"),
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        (
            RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
        install_hint="sudo apt-get install dataset-fashion-mnist",
    ),
    "mnist": FileSource(
        "MNIST",
        _IDX_FILES,
        (),
        ("mnist", "MNIST/raw"),
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        (
            RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    ),
    "cifar10": FileSource(
        "CIFAR-10",
        tuple(RequiredFile(name.removesuffix(".bin"), (name,)) for name in _CIFAR_BATCHES),
        (RequiredFile("meta", ("batches.meta.txt",)),),
        ("cifar-10-batches-bin", "cifar10/cifar-10-batches-bin"),
        "cifar-10-batches-bin",
        ("https://www.cs.toronto.edu/~kriz/",),
        (
            RemoteFile(
                "cifar-10-binary.tar.gz",
                "c32a1d4ab5d03f1284b67883e8d87530",
                tuple(
                    f"cifar-10-batches-bin/{name}" for name in (*_CIFAR_BATCHES, "batches.meta.txt")
                ),
            ),
        ),
    ),
}


@dataclass(frozen=True)
class Place:
    label: str  # how the message names it: "--data-dir", "$CNNTUI_DATA", ...
    root: Path | None  # None: not configured


@dataclass
class Located:
    """A directory holding every required file of a data set."""

    directory: Path
    files: dict[str, Path]  # RequiredFile.key -> the file found (optional ones when present)
    place: str
    downloaded: bool = False


@dataclass
class _SearchLog:
    places: list[Place]
    partial: list[str] = field(default_factory=list)


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/cnntui`, or `~/.cache/cnntui`."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "cnntui"


def offline() -> bool:
    """Whether `$CNNTUI_OFFLINE` forbids downloads."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def search_places(data_dir: Path | str | None, data_dir_name: str = "--data-dir") -> list[Place]:
    """The places searched, in order; `data_dir_name` is how messages name the first (a
    preset's `data_dir` key where it came from one)."""
    env = os.environ.get(DATA_ENV)
    places = [
        Place(data_dir_name, Path(data_dir).expanduser() if data_dir else None),
        Place(f"${DATA_ENV}", Path(env).expanduser() if env else None),
        Place("user cache", user_cache_dir()),
    ]
    places += [Place("system", path) for path in SYSTEM_DATA_DIRS]
    return places


def candidate_dirs(source: FileSource, root: Path) -> list[Path]:
    """The directories tried inside one place: the usual subfolders, then the place itself."""
    return [root / sub for sub in source.subdirs] + [root]


def find_files(source: FileSource, directory: Path) -> tuple[dict[str, Path], list[str]]:
    """The files of `source` present in `directory`, and the keys of required ones missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for wanted in (*source.files, *source.optional):
        path = next((directory / n for n in wanted.names if (directory / n).is_file()), None)
        if path is not None:
            found[wanted.key] = path
        elif wanted in source.files:
            missing.append(wanted.key)
    return found, missing


def locate(
    name: str,
    data_dir: Path | str | None = None,
    *,
    download: bool | None = None,
    fetch: Fetch | None = None,
    log: Log | None = None,
    data_dir_name: str = "--data-dir",
) -> Located:
    """Find data set `name`'s files, downloading into the user cache when allowed and needed.

    `download=None` downloads unless `$CNNTUI_OFFLINE` is set; `fetch(url, dest)` replaces urllib.
    """
    source = SOURCES[name]
    places = search_places(data_dir, data_dir_name)
    explicit = places[0].root
    if explicit is not None and not explicit.is_dir():
        raise UsageError(f"{data_dir_name} {explicit} is not a directory")
    search = _SearchLog(places)
    for place in places:
        if place.root is None:
            continue
        for directory in candidate_dirs(source, place.root):
            found, missing = find_files(source, directory)
            if not missing:
                return Located(directory, found, place.label)
            if len(missing) < len(source.files):
                search.partial.append(
                    f"{directory} has {', '.join(p.name for p in found.values())} "
                    f"but lacks {', '.join(missing)}"
                )

    allowed = (not offline()) if download is None else download
    if not allowed:
        why = f"{OFFLINE_ENV} is set" if download is None else "downloads are turned off"
        raise CnntuiError(_not_found_message(source, search, f"download skipped ({why})", True))
    target = user_cache_dir() / source.cache_subdir
    try:
        download_files(source, target, fetch=fetch or fetch_url, log=log)
    except DownloadError as exc:
        message = _not_found_message(source, search, f"download failed: {exc}", False)
        raise CnntuiError(message) from exc
    found, missing = find_files(source, target)
    if missing:
        problem = f"download finished but {target} lacks {', '.join(missing)}"
        raise CnntuiError(_not_found_message(source, search, problem, False))
    return Located(target, found, "user cache", downloaded=True)


class DownloadError(Exception):
    """Every mirror failed for some file; the message says how each failed."""


def fetch_url(url: str, dest: Path) -> None:
    """Download `url` to `dest` with urllib."""
    with (
        urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
        dest.open("wb") as out,
    ):
        shutil.copyfileobj(response, out, 1 << 20)


def download_files(source: FileSource, target: Path, *, fetch: Fetch, log: Log | None) -> None:
    """Fetch `source`'s remote files into `target`, verifying MD5s; archives are unpacked."""
    target.mkdir(parents=True, exist_ok=True)
    for remote in source.remote:
        # Archives go beside the target so their extracted members land inside it.
        dest = (target.parent if remote.members else target) / remote.name
        if not (dest.is_file() and md5_of(dest) == remote.md5):
            _fetch_verified(source, remote, dest, fetch, log)
        if remote.members:
            _extract_members(dest, remote.members, target)
            dest.unlink()


def _fetch_verified(
    source: FileSource, remote: RemoteFile, dest: Path, fetch: Fetch, log: Log | None
) -> None:
    partial = dest.with_name(dest.name + ".part")
    failures = []
    for mirror in source.mirrors:
        url = mirror + remote.name
        if log:
            log(f"downloading {url}")
        try:
            fetch(url, partial)
        except Exception as exc:  # any network failure means: try the next mirror
            failures.append(f"{url}: {exc}")
            continue
        actual = md5_of(partial)
        if actual == remote.md5:
            partial.replace(dest)
            return
        failures.append(f"{url}: MD5 {actual}, expected {remote.md5}")
    partial.unlink(missing_ok=True)
    raise DownloadError("; ".join(failures))


def _extract_members(archive: Path, members: tuple[str, ...], target: Path) -> None:
    # Only the named regular files, written under names we choose: nothing in the archive decides
    # where a file goes, and nothing in it is executed.
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member_name in members:
                member = tar.getmember(member_name)
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is None:
                    raise DownloadError(f"{archive}: {member_name} is not a regular file")
                with handle, (target / Path(member_name).name).open("wb") as out:
                    shutil.copyfileobj(handle, out, 1 << 20)
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise DownloadError(f"{archive}: cannot unpack: {exc}") from exc


def _not_found_message(
    source: FileSource, search: _SearchLog, download_note: str, suggest_download: bool
) -> str:
    subdirs = ", ".join(f"{sub}/" for sub in source.subdirs)
    lines = [f"{source.title} not found. Looked in:"]
    for place in search.places:
        if place.root is None:
            lines.append(f"  {place.label:<14} (not set)")
        else:
            note = "" if place.root.is_dir() else "  [does not exist]"
            lines.append(f"  {place.label:<14} {place.root} and its {subdirs}{note}")
    lines += [f"  partly there: {line}" for line in search.partial]
    lines.append(f"Then: {download_note}.")
    names = ", ".join(_official_names(source))
    cache = user_cache_dir() / source.cache_subdir
    lines.append("To provide the files:")
    if source.install_hint:
        lines.append(f"  {source.install_hint}  (Debian/Ubuntu), or")
    archive = next((remote for remote in source.remote if remote.members), None)
    if archive is None:
        lines.append(f"  put {names} in {cache}/, or")
    else:
        lines.append(f"  put {names} in {cache}/")
        url = source.mirrors[0] + archive.name
        lines.append(f"    (unpack {url} in {cache.parent}/), or")
    last = ", or" if suggest_download else "."
    lines.append(
        f"  pass --data-dir DIR (or set {DATA_ENV}=DIR) for a folder that holds them{last}"
    )
    if suggest_download:
        lines.append(f"  allow the download (unset {OFFLINE_ENV}; it needs network access).")
    return "\n".join(lines)


def _official_names(source: FileSource) -> list[str]:
    if any(remote.members for remote in source.remote):
        return [Path(m).name for remote in source.remote for m in remote.members]
    return [remote.name for remote in source.remote]
