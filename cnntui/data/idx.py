"""IDX files, the format of MNIST and Fashion-MNIST: validated reading and writing.

Layout: two zero bytes, a dtype code, the number of dimensions, each dimension as a big-endian
uint32, then the values in C order, big-endian. Reading checks all of it against the file size
before decoding, so a truncated file is reported as such instead of as a reshape error.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch

from cnntui.data.rawfile import DataFileError, read_file_bytes

# IDX dtype code -> numpy dtype of the stored (big-endian) values.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES_BY_KIND = {(dtype.kind, dtype.itemsize): code for code, dtype in IDX_DTYPES.items()}


def parse_idx(data: bytes, path: Path | str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a native-endian array, or raise DataFileError saying what is wrong."""
    if len(data) < 4:
        raise DataFileError(path, f"too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise DataFileError(
            path, f"not an IDX file: magic number starts {data[:2].hex()}, expected 0000"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DataFileError(path, f"not an IDX file: unknown dtype code 0x{code:02x}")
    if ndim == 0:
        raise DataFileError(path, "IDX header declares zero dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataFileError(
            path, f"truncated IDX header: {ndim} dimensions need {header_size} bytes"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header_size + math.prod(dims) * dtype.itemsize
    shape = "x".join(map(str, dims))
    if len(data) < expected:
        raise DataFileError(
            path,
            f"truncated: header says {shape} ({expected:,} bytes) but the data has "
            f"{len(data):,} bytes",
        )
    if len(data) > expected:
        raise DataFileError(
            path,
            f"{len(data) - expected:,} unexpected bytes after the {shape} values "
            f"(expected {expected:,} bytes in all)",
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    # The copy makes the array writable (torch refuses read-only buffers) and native-endian.
    return values.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: Path) -> torch.Tensor:
    """Read a gzip or plain IDX file into a CPU tensor of its stored dtype."""
    return torch.from_numpy(parse_idx(read_file_bytes(path), path))


def write_idx(path: Path, values: np.ndarray | torch.Tensor) -> None:
    """Write values as IDX; gzip-compressed when the name ends in .gz."""
    array = values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    code = _CODES_BY_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    stored = IDX_DTYPES[code]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=stored).tobytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=1, mtime=0)
    path.write_bytes(payload)
