"""What `run --nproc` settles before any rank starts: the checks a single process makes first,
and rank 0's run directory, which the dashboard follows and which a launch that never got its
run started leaves behind no more than a single process does."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from cnntui.config import RunConfig
from cnntui.run_dirs import check_new_run_dir, new_run_dir
from cnntui.runlog import LAUNCH_LOG, RUN_FILES


def plan_run_dir(
    config: RunConfig, resume: Path | None, overrides: dict[str, Any]
) -> tuple[Path, Path | None]:
    """Where rank 0 will write: the resumed run, the run_dir asked for, or a new directory made
    here under runs_root (made now, so that two launches in one second get two); and the
    outermost folder of it that this launch makes (None: there is none to make)."""
    if resume is not None:
        return check_resume(resume, overrides), None
    if config.run_dir_path is not None:
        # A rank that refused it would be reported as a failed rank.
        check_new_run_dir(config.run_dir_path)
        return config.run_dir_path, first_missing(config.run_dir_path)
    root = config.runs_root_path
    made = first_missing(root)
    run_dir = new_run_dir(root, config.model, config.dataset)
    return run_dir, made or run_dir


def check_resume(resume: Path, overrides: dict[str, Any]) -> Path:
    """The checks a rank's set-up makes of a resume, in its order, here before any rank starts;
    the run directory. Otherwise every rank refused it with the same line, the launcher added
    its own, and on a terminal launch.log was already written into the run's folder. What comes
    first, a folder that is no run directory, a run still training in it, a model named, was
    refused before, as a single process refuses them (`resolve_config`)."""
    from cnntui.engine.checkpoint import load_checkpoint
    from cnntui.engine.resume import resumed_config
    from cnntui.resume_path import resumed_run_dir

    state = load_checkpoint(resume, mmap=True)  # its config and step; not its weights
    resumed_config(state, overrides)  # what cannot change, a run with nothing left to train
    return resumed_run_dir(resume)


def first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (the launch would make it and
    those under it), or None when `path` exists."""
    missing = None
    for folder in (path, *Path(os.path.abspath(path)).parents):
        if folder.exists():
            return missing
        missing = folder
    return missing


def discard_unstarted(run_dir: Path, made: Path | None, launch_log: bool) -> None:
    """After a launch whose rank 0 never started the run (a set-up error, a stop while setting
    up): the folders this launch made, from the run directory up to `made`, and with
    `launch_log` the launcher's log that this process wrote there (its tail was shown). A single
    process makes its run directory at the end of its set-up, and so leaves nothing."""
    if not run_dir.is_dir() or any((run_dir / name).exists() for name in RUN_FILES):
        return
    with contextlib.suppress(OSError):
        if launch_log:
            (run_dir / LAUNCH_LOG).unlink(missing_ok=True)
        if made is None:
            return
        top = Path(os.path.abspath(made))
        for folder in (Path(os.path.abspath(run_dir)), *Path(os.path.abspath(run_dir)).parents):
            folder.rmdir()  # only when empty: a file someone put there keeps it
            if folder == top:
                break
