"""The keys that act on the training run: p, s, e and q, and which of them the footer offers.

A mixin of the Dashboard, which owns the run's state, the trainer and the worker thread these
keys act on; kept apart from the layout and the event pump because what a key may do depends on
the run's state (paused, stopping, ended, watched), and each refusal says why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from textual.notifications import Notification, Notify

from cnntui.engine.events import Event
from cnntui.engine.stderr_policy import StderrPolicy
from cnntui.tui.screens import QuitScreen
from cnntui.tui.state import RunState


class Trainer(Protocol):
    """What the dashboard needs from `cnntui.engine.trainer.Trainer`."""

    state: str
    failures_on_stderr: StderrPolicy

    def subscribe(self, fn: Callable[[Event], None]) -> None: ...
    def run(self) -> int: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def request_stop(self, reason: str = ...) -> None: ...
    def request_save(self) -> None: ...
    def request_evaluate(self) -> None: ...
    def discard_unstarted(self) -> bool: ...


CONTROL_ACTIONS = frozenset({"pause", "resume", "save", "evaluate"})
# How p, s and e say the run ended, by its final status.
ENDED = {
    "finished": "has finished",
    "failed": "failed",
    "diverged": "diverged",
    "interrupted": "was stopped",
}


if TYPE_CHECKING:
    from textual.app import App

    _App = App[int]  # for the type checker: the App this is mixed into
else:
    _App = object


class RunKeys(_App):
    """p, s, e and q. Expects of its App the attributes and methods declared below."""

    trainer: Trainer | None
    state: RunState
    read_only: bool
    launcher: bool  # `run --nproc`: the ranks take no keys, but q stops them
    watch_path: Path | None
    _evaluation_pending: bool  # e was pressed and its Evaluation has not arrived
    _quit_when_done: bool

    if TYPE_CHECKING:  # the Dashboard's own

        @property
        def training_active(self) -> bool: ...
        @property
        def run_exit_code(self) -> int: ...
        def stop_training(self, reason: str = ...) -> None: ...
        def _refresh_panes(self, changed: set[str]) -> None: ...

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which keys the footer offers: no controls while watching (the run is someone
        else's), and Resume instead of Pause while paused."""
        if action == "read_only":
            return self.read_only
        if action in CONTROL_ACTIONS and self.read_only:
            return False
        if action in ("pause", "resume"):
            return (self.state.status == "paused") == (action == "resume")
        return True

    def _on_notify(self, event: Notify) -> None:
        """A notice the same as one still shown replaces it, shown afresh: a refused key
        pressed again (p p p, or p s e while watching) stacked one more identical toast each
        time. Done as Textual takes the notice in, not in `notify`: keys queued together (a held
        key's repeats) each posted theirs before the first was shown, and `notify` stays safe to
        call from any thread, as Textual documents it. Textual calls App._on_notify after this
        (a handler of each class in the MRO), which adds the notice and redraws the toasts.
        Textual 8 has no public way to find or remove one toast; its own Toast calls _unnotify."""

        def says(notice: Notification) -> tuple[str, str, str]:
            return notice.message, notice.title, notice.severity

        new = event.notification
        # Private, so looked up warily: a Textual without them stacks toasts again, but the
        # dashboard keeps running (an AttributeError here would end it). The tests read both
        # names, so CI says when they change.
        shown_now = getattr(self, "_notifications", None)
        unnotify = getattr(self, "_unnotify", None)
        if shown_now is None or unnotify is None:
            return
        for shown in list(shown_now):
            if says(shown) == says(new) and shown is not new:
                unnotify(shown, refresh=False)

    def _control(self, verb: str) -> bool:
        """Whether a control key may act now; says why not when it may not. (While watching,
        check_action sends the keys to action_read_only instead.)"""
        if self.read_only:
            return False
        if self.training_active and self.state.status == "stopping":
            self.notify(f"Cannot {verb}: the run is stopping (saving last.pt).", severity="warning")
            return False
        if not self.training_active or not self.state.active:
            self.notify(self._ended_notice(verb), severity="warning")
            return False
        return True

    def _ended_notice(self, verb: str) -> str:
        """What s, e and p say once training is over: where its checkpoints are, how to
        evaluate one (`cnntui eval`), instead of a bare refusal."""
        ended = ENDED.get(self.state.status, "has ended")
        run_dir = self.state.started.run_dir if self.state.started else None
        if verb == "save" and run_dir:
            return f"Training {ended}: what it saved is in {run_dir}."
        if verb == "evaluate" and run_dir:
            return f"Training {ended}: evaluate its last.pt with `cnntui eval {run_dir}`."
        return f"Training {ended}: nothing to {verb}."

    def action_read_only(self) -> None:
        if self.launcher:
            self.notify("p, s and e are not available in a data-parallel run (--nproc).")
            return
        where = f" {self.watch_path}" if self.watch_path else ""
        self.notify(f"Read-only: watching{where}; p, s and e work in the live dashboard.")

    def action_pause(self) -> None:
        self.action_toggle_pause()

    def action_resume(self) -> None:
        self.action_toggle_pause()

    def action_toggle_pause(self) -> None:
        if not self._control("pause"):
            return
        assert self.trainer is not None
        pausing = self.state.status != "paused"
        # What the header shows, not a toggle: the trainer reports a pause only at its next
        # batch, and the run's start (or a late event) can show RUNNING over a pause it has not
        # reached yet; a toggle there resumed it while the header went on to say PAUSED.
        if pausing:
            self.trainer.pause()
        else:
            self.trainer.resume()
        # Show it at once; the trainer's StateChanged event confirms at the next batch.
        self._refresh_panes(self.state.set_status("paused" if pausing else "running"))

    def action_save(self) -> None:
        if not self._control("save"):
            return
        saved = self.state.saved_while_paused
        if saved is not None and self.state.status == "paused":
            # The trainer would skip it as unchanged and say nothing: the log shows no save.
            self.notify(f"Nothing new to save: last.pt holds step {saved:,}, where it is paused.")
            return
        assert self.trainer is not None
        self.trainer.request_save()
        when = "now" if self.state.status == "paused" else "after the current step"
        self.notify(f"Checkpoint requested: last.pt is saved {when}.")

    def action_evaluate(self) -> None:
        if not self._control("evaluate"):
            return
        if self._evaluation_pending:
            # The trainer clears its flag when it starts evaluating: asking again now would
            # queue another full pass over the split once this one ends (e e e: three).
            self.notify("Evaluation already requested: its result appears in the log.")
            return
        assert self.trainer is not None
        self._evaluation_pending = True
        self.trainer.request_evaluate()
        self.notify("Evaluation requested: press c for the confusion matrix.")

    @property
    def launch_running(self) -> bool:
        """`run --nproc`: the ranks' run has not ended (q stops it)."""
        return self.launcher and not self.state.ended

    def action_quit_dashboard(self) -> None:
        if isinstance(self.screen, QuitScreen):  # ctrl+c twice: yes
            self.screen.dismiss(True)
            return
        if self.launch_running:
            self.push_screen(QuitScreen(), self._on_quit_answer)
        elif not self.training_active:
            self.exit(self.run_exit_code, return_code=self.run_exit_code)
        elif self._quit_when_done:
            self.notify("Still stopping: waiting for last.pt to be saved…")
        else:
            self.push_screen(QuitScreen(), self._on_quit_answer)

    def _on_quit_answer(self, stop: bool | None) -> None:
        if stop:
            self.stop_training()

    async def action_quit(self) -> None:
        """ctrl+q: stop without asking (still saving last.pt) and leave."""
        self.stop_training()
