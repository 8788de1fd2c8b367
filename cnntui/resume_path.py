"""What `--resume` may name: a run directory with a last.pt, or a checkpoint file inside a run
directory. Torch-free, so that the command line checks it before torch loads."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

from cnntui.errors import UsageError, WriteError
from cnntui.runlog import EVENTS_FILE, RUN_FILES, SUMMARY_FILE, RunLogWriter, check_not_in_use
from cnntui.wording import plural


def check_resume_path(path: Path) -> None:
    """`--resume` takes a run directory with a last.pt, or a checkpoint file."""
    if not path.exists():
        raise UsageError(
            f"--resume {path}: no such run directory or checkpoint file; give the directory "
            "of an earlier run (e.g. one under runs/) or a .pt file"
        )
    # Before anything else about the resume, and before torch loads: a run still training there
    # is refused in an instant (also one in its first epoch, with no last.pt yet). A rank of
    # `run --nproc` cannot see rank 0's own hold here: rank 0 takes it after DDP's first
    # broadcast, which waits for all.
    resumable_run_dir(path)
    if path.is_dir() and not (path / "last.pt").is_file():
        raise no_last_pt(
            f"--resume {path}: the directory holds no last.pt to continue from",
            path,
            lambda best: f"--resume {best} goes on from its best epoch",
        )


def no_last_pt(said: str, folder: Path, use_best: Callable[[Path], str]) -> UsageError:
    """`said`, why a run directory may have none, and how `use_best` takes its best.pt when it
    has one: for `run --resume` and `eval` alike."""
    runs = _runs_in(folder)
    if runs:
        newest = max(runs, key=lambda run: (run / "last.pt").stat().st_mtime)
        return UsageError(
            f"{said}: it is a folder of {plural(len(runs), 'run')}; name one, such as "
            f"{newest} (the newest)"
        )
    best = folder / "best.pt"
    return UsageError(
        f"{said} {_why_none(folder)}" + (f"; {use_best(best)}" if best.is_file() else "")
    )


def _runs_in(folder: Path) -> list[Path]:
    """The run directories with a last.pt inside `folder`, when it is a folder of runs (runs/)
    rather than a run: `cnntui eval runs` is what a user types for the run they just trained."""
    if any((folder / name).exists() for name in RUN_FILES):
        return []
    try:
        return [run for run in folder.iterdir() if (run / "last.pt").is_file()]
    except OSError:
        return []


def _why_none(folder: Path) -> str:
    """Why the run in `folder` left no last.pt: a run that diverged, failed or was stopped at
    once before its first save says so in its summary.json, and "a run writes it when it stops"
    would be untrue of it."""
    try:
        summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
        status, message = summary["status"], summary["message"]
    except (OSError, ValueError, TypeError, KeyError):  # none, torn, or not cnntui's
        status = message = None
    # A stopped run saves last.pt as it stops, unless a second signal stopped it at once.
    ended = {"diverged": "diverged", "failed": "failed", "interrupted": "was stopped"}.get(status)
    if ended is not None and isinstance(message, str) and message:
        return f"(the run {ended} before it saved one: {message.rstrip('.')})"
    return "(a run writes it at the end of an epoch and when it stops)"


def resumable_run_dir(resume_from: Path) -> Path:
    """The directory a resumed run goes on in, refused while another process trains in it;
    writes nothing.

    A resume's first check after its path's, by the command line for a single process and the
    `run --nproc` launcher alike (`check_resume_path`), and by the engine before it reads the
    checkpoint (`Trainer.setup`): that
    the run is still going is what a user needs to hear first, and what else is wrong with the
    resume (a model named, a setting that cannot change, nothing left to train) may no longer
    be once it has ended."""
    run_dir = resumed_run_dir(resume_from)
    check_not_in_use(run_dir)
    check_writable(resume_from, run_dir)
    return run_dir


def check_writable(resume_from: Path, run_dir: Path) -> None:
    """A resumed run appends to the directory's events.jsonl and replaces its checkpoints and
    summary there: one it cannot write (a read-only mount, another user's run) is refused
    before the set-up, where opening events.jsonl raised OSError with a traceback."""
    events = run_dir / EVENTS_FILE
    if os.access(run_dir, os.W_OK | os.X_OK) and (
        not events.exists() or os.access(events, os.W_OK)
    ):
        return
    raise cannot_write(resume_from, run_dir)


# What opening a file says of a directory that `check_writable` would have refused.
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def open_resumed_log(
    resume_from: Path, run_dir: Path, on_failure: Callable[[WriteError], None]
) -> RunLogWriter:
    """The resumed run's log, opened; a directory that became unwritable after
    `check_writable` (remounted read-only or chmodded while the checkpoint loaded) is refused
    in its words, where the open raised OSError with a traceback."""
    try:
        return RunLogWriter(run_dir, on_failure)
    except WriteError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno in NOT_WRITABLE:
            raise cannot_write(resume_from, run_dir) from None
        raise


def cannot_write(resume_from: Path, run_dir: Path) -> UsageError:
    """The refusal of a resume whose run directory this process cannot write in."""
    statvfs = getattr(os, "statvfs", None)  # Unix only; elsewhere the permission is all we know
    read_only = statvfs is not None and statvfs(run_dir).f_flag & os.ST_RDONLY
    why = "it is on a read-only file system" if read_only else "no permission to write there"
    return UsageError(
        f"--resume {resume_from}: cannot write in {run_dir} ({why}), where a resumed run "
        f"goes on; `cnntui eval {resume_from}` reads it as it is, or copy the directory "
        "somewhere writable and resume the copy"
    )


def resumed_run_dir(resume_from: Path) -> Path:
    """The directory a resumed run goes on in: the run directory given, or the one that holds
    the checkpoint file given.

    A checkpoint outside any run directory (copied to the home directory, next to other runs)
    is refused: the resumed run would make its folder a run directory, writing config.json,
    events.jsonl, last.pt and summary.json among files that are not the run's."""
    path = Path(resume_from)
    if path.is_dir():
        return path
    folder = path.parent
    if not any((folder / name).exists() for name in RUN_FILES if name != path.name):
        raise UsageError(
            f"--resume {path}: {folder} is not a run directory (it holds no config.json, "
            "events.jsonl or other checkpoint), and a resumed run writes its files beside "
            "its checkpoint; move the file into a directory of its own, as last.pt, and "
            "resume that directory"
        )
    return folder
