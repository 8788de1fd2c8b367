"""What a run's heartbeats tell the dashboard: the phase it is in between its steps (its first
step, an evaluation, a checkpoint's write), for how long, and how long it may go quiet before a
followed run is taken for killed.

A mixin of RunState, as run_keys.py is of the Dashboard: a phase ends with whichever event comes
next, so `RunState.apply` asks it of every event it folds, and the phase is timed on the run's
clock that RunState keeps for its log lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnntui.engine.events import PAUSED, TRAINING, Heartbeat, LogMessage

# The events that say nothing of what the run is doing: a phase that a heartbeat said goes on
# through them (a warning in the middle of the first step); any other ends it.
PHASE_GOES_ON = frozenset({Heartbeat.kind, LogMessage.kind})
# Seconds a phase lasts before the header says for how long: a save or a small evaluation ends
# sooner, and a phase that goes on for minutes (a deadlock's: its heartbeats prove only that
# the process lives) shows its time growing.
BUSY_TIMED_AFTER = 5.0


class Heartbeats:
    """The phase and the longest quiet a run's events say. Expects of its RunState the
    attributes declared."""

    status: str

    if TYPE_CHECKING:  # RunState's own

        @property
        def active(self) -> bool: ...

        def _log_time(self) -> float: ...

    def _reset_heartbeats(self) -> None:
        # The most seconds the run goes without an event, its latest state event says (it
        # writes a heartbeat in a longer quiet); None from a cnntui before heartbeats.
        self.heartbeat_every: float | None = None
        # What the run is doing, its latest heartbeat said (evaluating test, saving best.pt),
        # until an event says otherwise; None: no heartbeat since, or one from before phases.
        self.phase: str | None = None
        self.phase_since: float | None = None  # the run's clock when that phase began

    def quiet_after(self, allowance: float) -> float | None:
        """Seconds without an event after which a tailed run may have been killed; None when
        its quiet says nothing. `allowance`: how late a live run's event may come (a slow disk,
        a shared filesystem's delay) past the longest quiet the run said it keeps."""
        if not self.active:
            return None  # it has ended
        if self.heartbeat_every is not None:
            # It writes a heartbeat whenever nothing else came for that long: through an
            # evaluation, a checkpoint's write, a long first step, a pause.
            return self.heartbeat_every + allowance
        # Logged by a cnntui before heartbeats: it wrote nothing while paused until it
        # resumed, so its quiet then is never taken for death; while training, events came
        # every 100 ms or so but for its long phases (an evaluation), which went silent.
        return None if self.status == "paused" else allowance

    @property
    def busy_with(self) -> str | None:
        """The phase the header shows: what the run is doing that its steps do not show (its
        first step, an evaluation, a checkpoint's write). None while it trains, when paused
        (the badge says so), once it has ended, and in a log from before phases."""
        if not self.active or self.phase in (None, TRAINING, PAUSED):
            return None
        return self.phase

    def busy_for(self, run_time: float) -> float | None:
        """How long the phase `busy_with` names has lasted at `run_time` on the run's clock
        (the header's elapsed time), once past BUSY_TIMED_AFTER; None otherwise."""
        if self.busy_with is None or self.phase_since is None:
            return None
        lasted = run_time - self.phase_since
        return lasted if lasted >= BUSY_TIMED_AFTER else None

    def _phase_ends(self, kind: str) -> bool:
        """An event of `kind` is being folded: True when it ended the phase a heartbeat said
        (a step, an evaluation, a save)."""
        if self.phase is None or kind in PHASE_GOES_ON:
            return False
        self.phase = self.phase_since = None
        return True

    def _on_heartbeat(self, event: Heartbeat) -> set[str]:
        """The run is still there (paused, evaluating, saving), and what it is doing: the
        header's phase, and its clock, which `apply` moves to the heartbeat's time. A phase
        begins at the first heartbeat that says it (written as it began, loop.py's
        `begin_phase`), timed by the run's clock, so that a replayed log times it as a live run."""
        phase = event.phase if isinstance(event.phase, str) and event.phase else None
        if phase != self.phase:
            self.phase_since = None if phase is None else self._log_time()
        self.phase = phase
        return {"header"}
