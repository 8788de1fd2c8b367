"""Checkpoints: written atomically, read with weights_only so a file can never run code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from cnntui.errors import CnntuiError


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write to a temp file, fsync, rename: a crash mid-save leaves the previous file intact."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a cnntui checkpoint; only tensors and plain data are accepted."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CnntuiError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling refuses anything but tensors and plain data
        raise CnntuiError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CnntuiError(f"{path} is not a cnntui checkpoint (no model state)")
    return state
