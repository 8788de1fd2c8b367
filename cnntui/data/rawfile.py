"""Reading data files as bytes: gzip or plain, with errors that name the file and the problem."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from cnntui.errors import CnntuiError

GZIP_MAGIC = b"\x1f\x8b"


class DataFileError(CnntuiError):
    """A data file exists but is truncated, corrupt or not in the expected format."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def read_file_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is gzip data (decided by its bytes, not its name)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    if not data.startswith(GZIP_MAGIC):
        return data
    # gzip checks its own CRC-32 and length trailer, so a damaged download fails here with a
    # reason instead of decoding into garbage images.
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise DataFileError(
            path, f"truncated gzip file ({len(data):,} bytes): download or copy it again"
        ) from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataFileError(path, f"corrupt gzip data ({exc}): download or copy it again") from exc


def md5_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
