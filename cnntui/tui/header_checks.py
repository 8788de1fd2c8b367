"""What the dashboard's header says between a run's events: how long it has waited for a run
to appear or start, the live run's clock, and whether a followed run has gone quiet.

A mixin of the Dashboard, as run_keys.py is: these checks run once a tick, each says whether the
header must be redrawn, and they need the Dashboard's clock and state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnntui.runlog import EVENTS_FILE
from cnntui.tui.live_clock import LiveClock
from cnntui.tui.silence import LastEvent, Silence
from cnntui.tui.state import RunState
from cnntui.tui.unstarted import unstarted_run
from cnntui.tui.widgets.header import RunHeader

if TYPE_CHECKING:
    from textual.widget import Widget


class HeaderChecks:
    """The header's waits, clock and silence. Expects of its App the attributes declared."""

    state: RunState
    launcher: bool
    clock: Callable[[], float]
    _panes: dict[str, Widget]
    _opened_at: float
    _live_clock: LiveClock
    _last_event: LastEvent

    if TYPE_CHECKING:  # the Dashboard's own

        def _quiet_after(self) -> float | None: ...

    @property
    def _header(self) -> RunHeader:
        header = self._panes["header"]
        assert isinstance(header, RunHeader)
        return header

    def _announce_waiting(self, run_dir: Path) -> set[str]:
        """`watch` on a directory no run has written to yet (a `run --run-dir` about to start)
        waits for it; the header and the log say so, or the empty dashboard looks hung."""
        header = self._header
        header.awaiting = run_dir
        events_file = run_dir / EVENTS_FILE
        if self.launcher:  # the ranks this command launched are setting up; no one else's run
            return self.state.note("info", f"the ranks are setting up; rank 0 writes {events_file}")
        if not run_dir.exists():
            header.appeared = False
            return self.state.note(
                "info",
                f"{run_dir} does not exist yet: waiting for it to appear "
                f"(`cnntui run … --run-dir {run_dir}` makes it)",
            )
        return self.state.note(
            "info",
            f"no run has written to {run_dir} yet: waiting for {events_file} "
            f"(`cnntui run … --run-dir {run_dir}` writes it)",
        )

    def _count_wait(self) -> set[str]:
        """While no run has started, the header shows how long it has waited, by the second."""
        if self._header.awaiting is None or self.state.started is not None:
            return set()
        waited = self._show_by_the_second("waited", self.clock() - self._opened_at)
        return waited | self._check_appeared() | self._check_set_up()

    def _check_appeared(self) -> set[str]:
        """Whether the run directory awaited has been made, said once; a stat a tick."""
        header = self._header
        run_dir = header.awaiting
        if header.appeared or run_dir is None or not run_dir.exists():
            return set()
        header.appeared = True
        if run_dir.is_dir():
            note = self.state.note("info", f"{run_dir} appeared: waiting for its {EVENTS_FILE}")
        else:  # the tail reads nothing from a file: say why nothing comes
            note = self.state.note("warning", f"{run_dir} appeared as a file, not a directory")
        return note | {"header"}

    def _check_set_up(self) -> set[str]:
        """Whether the run that made the directory awaited still sets up (a process holds it)
        or ended before its first event, said once each; a stat and a lock's probe a tick,
        until it ends. Not for `run --nproc`'s launcher, which knows how its ranks fare."""
        header = self._header
        run_dir, known = header.awaiting, header.set_up
        if self.launcher or run_dir is None or (known is not None and known.ended):
            return set()
        set_up = unstarted_run(run_dir)
        if set_up == known:
            return set()
        header.set_up = set_up
        if set_up is None:
            return {"header"}
        if set_up.ended:
            return {"header"} | self.state.note(
                "warning",
                f"the run in {run_dir} ended while setting up, before its first event "
                "(killed?): nothing more will come",
            )
        return {"header"} | self.state.note("info", f"a run is setting up in {run_dir}")

    def _tick_clock(self) -> set[str]:
        """A live run's elapsed time goes on between its events (a pause, an evaluation), by
        the second. Not in watch: a run that writes nothing may have been killed."""
        elapsed = self._live_clock.read(self.clock()) if self.state.active else None
        return self._show_by_the_second("elapsed", elapsed)

    def _check_quiet(self) -> set[str]:
        """A tailed run that stops writing events may have been killed: say so in the header,
        by the second."""
        after = self._quiet_after()
        silence = None if after is None else self._last_event.silence(self.clock(), after)
        set_up = self._header.set_up
        if set_up is not None and set_up.ended and self.state.started is None:
            silence = Silence(set_up.since, time.time() - set_up.since)  # since its last write
        return self._show_by_the_second("silence", silence, lambda s: s.seconds)

    def _show_by_the_second(
        self, name: str, value: Any, seconds: Callable[[Any], float] = float
    ) -> set[str]:
        """Set the header's `name` (a time, or what holds one) to `value`, redrawing it only
        when that time changes by the second, as shown: every tick's redraw would cost CPU for
        nothing. None (nothing shown) differs from any time."""
        shown = getattr(self._header, name)
        if value is None or shown is None:
            same = value is shown
        else:
            same = round(seconds(value)) == round(seconds(shown))
        if same:
            return set()
        setattr(self._header, name, value)
        return {"header"}
