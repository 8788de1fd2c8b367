"""IDX reader: the official layout, gzip or unpacked, and clear errors for damaged files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from cnntui.data.idx import read_idx, write_idx
from cnntui.data.rawfile import DataFileError


def handmade_idx(values: np.ndarray, code: int = 0x08) -> bytes:
    """IDX bytes written from the spec, independent of write_idx."""
    header = struct.pack(">BBBB", 0, 0, code, values.ndim)
    header += struct.pack(f">{values.ndim}I", *values.shape)
    return header + values.astype(values.dtype.newbyteorder(">")).tobytes()


def test_reads_handmade_uint8_images(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(handmade_idx(images))
    tensor = read_idx(path)
    assert tensor.shape == (2, 3, 4)
    assert tensor.numpy().tolist() == images.tolist()


def test_reads_big_endian_int32(tmp_path: Path) -> None:
    values = np.array([1, -2, 70000], dtype=np.int32)
    path = tmp_path / "values-idx1-int"
    path.write_bytes(handmade_idx(values, code=0x0C))
    assert read_idx(path).tolist() == [1, -2, 70000]


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_write_read_round_trip(tmp_path: Path, name: str, dtype: type) -> None:
    values = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    path = tmp_path / name
    write_idx(path, values)
    assert path.read_bytes().startswith(b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path).numpy()
    assert back.dtype == values.dtype
    np.testing.assert_array_equal(back, values)


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    values = np.ones((3, 2), dtype=np.uint8)
    unpacked_named_gz = tmp_path / "x.gz"
    unpacked_named_gz.write_bytes(handmade_idx(values))
    packed_named_plain = tmp_path / "x"
    packed_named_plain.write_bytes(gzip.compress(handmade_idx(values)))
    assert read_idx(unpacked_named_gz).tolist() == values.tolist()
    assert read_idx(packed_named_plain).tolist() == values.tolist()


def problem_with(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(DataFileError) as info:
        read_idx(path)
    message = str(info.value)
    assert message.startswith(str(path)), "the message names the file"
    return message


def test_truncated_data_says_how_much_is_missing(tmp_path: Path) -> None:
    full = handmade_idx(np.zeros((10, 28, 28), dtype=np.uint8))
    message = problem_with(tmp_path, full[:-100])
    assert "truncated" in message
    assert "10x28x28" in message
    assert f"{len(full):,}" in message


def test_trailing_bytes_are_an_error(tmp_path: Path) -> None:
    message = problem_with(tmp_path, handmade_idx(np.zeros(5, dtype=np.uint8)) + b"junk")
    assert "4 unexpected bytes" in message


def test_bad_magic_number(tmp_path: Path) -> None:
    message = problem_with(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert "not an IDX file" in message and "magic" in message


def test_unknown_dtype_code(tmp_path: Path) -> None:
    assert "unknown dtype code 0x07" in problem_with(tmp_path, bytes([0, 0, 7, 1, 0, 0, 0, 1, 5]))


def test_truncated_header(tmp_path: Path) -> None:
    assert "truncated IDX header" in problem_with(tmp_path, bytes([0, 0, 8, 3, 0, 0]))
    assert "too short" in problem_with(tmp_path, b"\x00")


def test_truncated_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(handmade_idx(np.arange(4000, dtype=np.int32) % 256))
    assert "truncated gzip" in problem_with(tmp_path, packed[: len(packed) // 2])


def test_corrupt_gzip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    packed = bytearray(gzip.compress(handmade_idx(rng.integers(0, 255, 5000).astype(np.uint8))))
    packed[len(packed) // 2] ^= 0xFF
    assert "corrupt gzip" in problem_with(tmp_path, bytes(packed))


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="cannot read"):
        read_idx(tmp_path / "missing")
