"""The line the terminal keeps once the dashboard has closed.

The dashboard draws on the alternate screen, so when it closes the terminal shows again what was
there before: the "setting up" line. Without a last line the user sees no result, no exit status
and no run directory, as if setup had hung.
"""

from __future__ import annotations

from pathlib import Path

from cnntui.engine.events import Event, RunFailed, RunFinished, RunStarted
from cnntui.headless import finished_line

# The line for a run stopped before its first event, which left nothing.
NOTHING_SAVED = "cnntui: stopped before training started; nothing was saved"


class RunOutcome:
    """A subscriber that keeps how the run ended and where its directory is."""

    def __init__(self) -> None:
        self.run_dir: str | None = None
        self.finished: RunFinished | None = None
        self.failed: RunFailed | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_dir = event.run_dir
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, RunFailed):
            self.failed = event

    def line(self) -> str | None:
        """ "cnntui: finished after 470 steps in 28.1s, best accuracy 71.70% · runs/…"; None
        for a run that never started."""
        # Not a directory that is gone: a run failed by its deletion pointed at it all the same.
        gone = self.run_dir is None or not Path(self.run_dir).is_dir()
        where = "" if gone else f" · run directory: {self.run_dir}"
        if self.failed is not None:  # it started: "stopped before training started" is wrong
            return f"cnntui: error: {self.failed.error} (at step {self.failed.step}){where}"
        if self.finished is None:
            if self.run_dir is None:
                return None
            # It started, so "nothing was saved" would be false: its checkpoints may be there.
            # A rank killed by the launcher (stuck past the shutdown timeout) ends like this.
            return f"cnntui: the run stopped without recording how it ended{where}"
        return f"cnntui: {finished_line(self.finished)}{where}"
