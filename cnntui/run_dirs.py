"""Making a run's directory: a new one named by time, model and data set under the runs root,
or the user's --run-dir, refused before set-up's seconds when it cannot be made or already
holds a run."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from cnntui.errors import UsageError
from cnntui.runlog import LAUNCH_LOG, RUN_FILES


def new_run_dir(root: Path, model: str, dataset: str) -> Path:
    """`root/<time>-<model>-<dataset>/`, made unique if two runs start in the same second."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    named = f"{last_part(model)}-{last_part(dataset)}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in named)
    # A file's name holds 255 bytes: keep the end, which says the most (file, attribute, data).
    safe = safe.encode()[-200:].decode(errors="ignore")
    base = root / f"{stamp}-{safe}"
    make_dir(root, f"--runs-root {root}")
    path, n = base, 1
    # mkdir without exist_ok claims the name: a look first, then a mkdir, lets another run
    # started in the same second make it in between, and both would train in one directory.
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        except OSError as exc:
            raise cannot_create(path, f"--runs-root {root}", exc) from None


def last_part(spec: str) -> str:
    """A model or data set as a run's name says it: a path by its last part
    (`/home/me/nets/net.py:make` -> `net.py:make`, `folder:/data/pets/` -> `folder:pets`)."""
    kind = "folder:" if spec.startswith("folder:") else ""
    return kind + spec[len(kind) :].rstrip("/").rsplit("/", 1)[-1]


def make_dir(path: Path, named_by: str) -> None:
    """mkdir -p, with a usage error naming the option instead of an OSError's traceback."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_create(path, named_by, exc) from None


def cannot_create(path: Path, named_by: str, exc: OSError) -> UsageError:
    return UsageError(f"{named_by}: cannot create {path} ({exc.strerror or exc})")


def check_can_create(path: Path, named_by: str) -> None:
    """Before set-up's seconds: a directory that cannot be made is refused now, not after."""
    ancestor = Path(os.path.abspath(path))
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{named_by}: cannot create {path}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{named_by}: cannot create {path}: no permission to write in {ancestor}")


def check_new_run_dir(path: Path) -> None:
    """Refuse a `--run-dir` that is not new or empty: a second run in a run's directory would
    replace its checkpoints, config and summary and append to its events, and in any other
    directory the run's files would be mixed with files it does not own."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--run-dir {path} is a file, not a directory; pick another path")
    check_can_create(path, "--run-dir")
    found = [name for name in RUN_FILES if (path / name).exists()]
    if found:
        go_on = (
            f", or continue that run with `cnntui run --resume {path}` (add --epochs N to train "
            "it for longer)"
            if (path / "last.pt").exists()
            else ""
        )
        raise UsageError(
            f"--run-dir {path} already holds a run ({', '.join(found)}); pick a new directory"
            + go_on
        )
    others = sorted(p.name for p in path.iterdir() if p.name != LAUNCH_LOG) if path.is_dir() else []
    if others:
        shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
        raise UsageError(
            f"--run-dir {path} is not empty (it holds {shown}); pick a new or empty directory"
        )
