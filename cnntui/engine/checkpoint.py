"""Checkpoints: written atomically, read with weights_only so a file can never run code."""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from cnntui.errors import UsageError, WriteError, write_error
from cnntui.shapes.units import format_shape


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write to a temp file, fsync, rename: a crash mid-save leaves the previous file intact.

    A save that fails (a full disk, a deleted directory) raises WriteError, having removed its
    temp file; the previous checkpoint is untouched, and the message says so."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        cause = _os_error(exc)
        if cause is None:
            raise
        error = write_error(path, cause)
        if path.is_file():
            error = WriteError(path, f"{error} (the previous {path.name} is kept)")
        raise error from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return path


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind a failed save. torch.save reports a failed write of its zip writer as
    a RuntimeError ("unexpected pos 704 vs 598") raised while handling the file's OSError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


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


def load_checkpoint(
    path: Path, map_location: str | torch.device = "cpu", mmap: bool = False
) -> dict[str, Any]:
    """Load a cnntui checkpoint; only tensors and plain data are accepted. With `mmap`, for a
    caller that reads its config and step but not its weights, the tensors are mapped from the
    file instead of read."""
    path = Path(path)
    if path.is_dir():
        folder, path = path, path / "last.pt"
        if not path.is_file():
            from cnntui.resume_path import no_last_pt

            raise no_last_pt(
                f"{folder} holds no last.pt",
                folder,
                lambda best: f"{best} is its best epoch's checkpoint",
            )
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():
            # torch warns about the pickle protocol of files it then refuses; the error says more.
            warnings.simplefilter("ignore", UserWarning)
            state = None
            if mmap:
                # A file in torch.save's older format cannot be mapped: it is read, as a
                # training rank reads it, and refused as a rank would refuse it.
                with contextlib.suppress(Exception):
                    state = torch.load(
                        path, map_location=map_location, weights_only=True, mmap=True
                    )
            if state is None:
                state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling refuses anything but tensors and plain data
        raise UsageError(_unreadable(path, exc) + _other_checkpoint(path)) from exc
    # Both readers, `eval` and `--resume`, rebuild the run from its saved config.
    missing = [
        key for key in ("model", "config") if not isinstance(state, dict) or key not in state
    ]
    if missing:
        what = " or ".join({"model": "model state", "config": "saved config"}[k] for k in missing)
        raise UsageError(f"{path} is not a cnntui checkpoint (no {what}){_WHAT_TO_PASS}")
    return state


def load_weights(model: torch.nn.Module, weights: dict[str, Any], what: str, name: str) -> None:
    """Put a checkpoint's weights into `model` as this cnntui builds it now. A model that no
    longer fits them (a user's file edited since the run) is one line naming the first
    difference, not torch's RuntimeError with a line for every tensor."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise UsageError(
            f"{what} does not fit model {name} as it is built now: "
            f"{_weights_difference(model.state_dict(), weights) or exc}; has its code or its "
            "options changed since the run was trained?"
        ) from exc


def _weights_difference(have: dict[str, Any], saved: dict[str, Any]) -> str:
    """The first tensor whose name or shape differs, and how many more do."""
    said = [
        f"{k} is {_shape(saved[k])} in the checkpoint and {_shape(have[k])} in the model"
        for k in saved
        if k in have and not _lazy(have[k]) and tuple(saved[k].shape) != tuple(have[k].shape)
    ]
    said += [f"the model's {k} is not in the checkpoint" for k in have if k not in saved]
    said += [f"the checkpoint's {k} is not in the model" for k in saved if k not in have]
    if len(said) > 1:
        return f"{said[0]} (and {len(said) - 1} more tensors)"
    return said[0] if said else ""


def _lazy(tensor: Any) -> bool:
    """An unbuilt parameter of a lazy layer: it has no shape until the weights are loaded."""
    from torch.nn.parameter import is_lazy

    return is_lazy(tensor)


def _shape(tensor: Any) -> str:
    return format_shape(tensor.shape) if tensor.dim() else "a scalar"


def saved_step(path: Path) -> int | None:
    """The step a checkpoint was saved at, or None when it cannot be read. Memory-mapped: the
    weights are not read."""
    try:
        return int(load_checkpoint(path, mmap=True)["step"])
    except (UsageError, KeyError, TypeError, ValueError):  # damaged, foreign, or no step in it
        return None


def _other_checkpoint(path: Path) -> str:
    """Where a run whose last.pt cannot be read may still be picked up: its best.pt."""
    best = path.with_name("best.pt")
    if path.name != "last.pt" or not best.is_file():
        return ""
    return f"; its run's best.pt may still be read: pass {best}"


_WHAT_TO_PASS = "; pass a run directory or the last.pt or best.pt in one"
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive


def _unreadable(path: Path, exc: Exception) -> str:
    """Why torch.load refused `path`, in a line; torch's own text advises weights_only=False."""
    unsafe = _UNSAFE_GLOBAL.search(str(exc))
    if unsafe:
        return (
            f"{path} is not a cnntui checkpoint: it holds a Python object ({unsafe.group(1)}), "
            "and cnntui loads only tensors and plain data so that a file cannot run code"
        )
    with open(path, "rb") as f:
        start = f.read(len(_ZIP_MAGIC))
    if not start:
        return f"cannot read checkpoint {path}: the file is empty"
    if start == _ZIP_MAGIC:
        return f"cannot read checkpoint {path}: the file is damaged or cut short"
    return f"{path} is not a cnntui checkpoint (not a file torch.save wrote){_WHAT_TO_PASS}"
