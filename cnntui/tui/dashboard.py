"""The dashboard App: layout, the drain timer and the trainer's thread worker (its keys that act
on the run are in run_keys.py, the header's waits, clock and silence in header_checks.py).

The training thread only appends to a buffer; a timer here drains it a few times a second, folds
the events into a `RunState` and refreshes just the panes whose data changed.
"""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.geometry import Size
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from cnntui.engine.events import Evaluation, Event, RunFailed, RunFinished
from cnntui.errors import EXIT_INTERRUPTED
from cnntui.tui import signals
from cnntui.tui.header_checks import HeaderChecks
from cnntui.tui.layer_health import as_float
from cnntui.tui.layout import arrangement
from cnntui.tui.live_clock import LiveClock
from cnntui.tui.pacing import UI_CPU_BUDGET, TickPacer, drawing_phase
from cnntui.tui.run_keys import RunKeys, Trainer
from cnntui.tui.screens import HelpScreen, QuitScreen
from cnntui.tui.silence import LastEvent
from cnntui.tui.sources import EventSource, events_written
from cnntui.tui.state import PANES, RunState
from cnntui.tui.widgets.accuracy_chart import AccuracyChart
from cnntui.tui.widgets.chart import pace_together
from cnntui.tui.widgets.confusion import ConfusionPane
from cnntui.tui.widgets.device import DevicePane
from cnntui.tui.widgets.header import RunHeader
from cnntui.tui.widgets.key_footer import KeyFooter
from cnntui.tui.widgets.layers import LayerTable
from cnntui.tui.widgets.log_pane import LogPane
from cnntui.tui.widgets.loss_chart import LossChart
from cnntui.tui.widgets.scroll_when_cut import ScrollWhenCut
from cnntui.tui.widgets.throughput import ThroughputPane
from cnntui.tui.widgets.view_bar import ViewBar

POLL_INTERVAL = 0.5  # seconds between drains at most (cnntui/tui/pacing.py)
VIEWS = ("charts", "layers", "system", "log")
STALE_AFTER = 15.0  # seconds without events before `watch` says the run may have stopped


class Dashboard(RunKeys, HeaderChecks, App[int]):
    """The training monitor. With a trainer it drives a live run; without, it is read-only."""

    CSS_PATH = "app.tcss"
    TITLE = "cnntui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        # One key, two labels: check_action leaves the one that says what p does now.
        Binding("p", "pause", "Pause"),
        Binding("p", "resume", "Resume"),
        # While watching, the control keys are not offered, only answered.
        Binding("p,s,e", "read_only", show=False),
        Binding("s", "save", "Save"),
        Binding("e", "evaluate", "Eval"),
        Binding("c", "toggle_confusion", "Confusion"),
        Binding("l", "toggle_log_scale", "Log-y"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit_dashboard", "Quit"),
        Binding("ctrl+c", "quit_dashboard", "Quit", show=False, priority=True),
        *(Binding(str(i), f"view('{v}')", v, show=False) for i, v in enumerate(VIEWS, 1)),
    ]

    def __init__(
        self,
        source: EventSource,
        trainer: Trainer | None = None,
        *,
        exit_on_finish: bool = False,
        watch_path: Path | None = None,
        poll_interval: float = POLL_INTERVAL,
        ui_cpu_budget: float | None = UI_CPU_BUDGET,
        handle_signals: bool = False,
        draw_phase_seconds: float | None = None,
        launcher: bool = False,
    ) -> None:
        super().__init__()
        self.source = source
        self.trainer = trainer
        self.read_only = trainer is None
        # `cnntui run --nproc`: read-only (the ranks take no keys), but the run is the user's,
        # and leaving stops it (launch.py), so q asks first as in a live run.
        self.launcher = launcher
        self.watch_path = watch_path
        self.exit_on_finish = exit_on_finish
        self.poll_interval = poll_interval
        # None: a tick every poll_interval whatever it costs (tests that want a fixed rate).
        self.ui_cpu_budget = ui_cpu_budget
        self.draw_phase_seconds = draw_phase_seconds  # benchmarks only: see DRAW_PHASES_ENV
        self.handle_signals = handle_signals
        self.state = RunState()
        if self.read_only:
            self.state.status = "waiting"
        self.trainer_started = False
        self.trainer_done = threading.Event()
        self.trainer_exit_code: int | None = None
        self.user_quit = False  # the user stopped the run before it ended
        # Why the viewer stopped it: `q`, or the signal the app got; `run --nproc` passes it on.
        self.stop_reason: str | None = None
        self._quit_when_done = False
        self._evaluation_pending = False  # e was pressed and its Evaluation has not arrived
        self._view = "charts"
        self._show_confusion = False
        self._layout = arrangement(Size(0, 0))
        self._dropped_seen = 0
        self.clock = time.monotonic  # a steady clock, for what is timed here; tests may stop it
        self._opened_at = self.clock()
        self._last_event = LastEvent(self._opened_at, time.time())
        self._live_clock = LiveClock()
        self._panes: dict[str, Widget] = {}

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The launcher's dashboard follows a run this command started: no "watch" tag.
        yield RunHeader("watch" if self.read_only and not self.launcher else "live", id="header")
        yield ViewBar(VIEWS, id="views")
        with ScrollWhenCut(id="dashboard"):
            with Horizontal(id="charts-row"):
                yield LossChart(id="loss")
                yield AccuracyChart(id="accuracy")
            with Horizontal(id="middle-row"):
                yield LayerTable(id="layers")
                yield ConfusionPane(read_only=self.read_only, id="confusion")
                with ScrollWhenCut(id="system"):
                    yield DevicePane(id="device")
                    yield ThroughputPane(id="throughput")
            yield LogPane(id="log")
        yield KeyFooter()

    def on_mount(self) -> None:
        titles = {
            "loss": "Loss",
            "accuracy": "Accuracy %",
            "layers": "Layers",
            "confusion": "Confusion matrix",
            "device": "Device",
            "throughput": "Throughput",
            "log": "Log",
        }
        for pane_id, title in titles.items():
            self.query_one(f"#{pane_id}").border_title = title
        # Held, not queried per tick: a tick during shutdown must not find the DOM half gone.
        self._panes = {name: self.query_one(f"#{name}") for name in PANES}
        pace_together(self.query_one(LossChart), self.query_one(AccuracyChart))
        first_panes = {"header", "layers", "confusion", "throughput"}
        if self.watch_path is not None:
            self.sub_title = str(self.watch_path)
            if not events_written(self.watch_path):
                first_panes |= self._announce_waiting(self.watch_path)
        self._layout = arrangement(self.size)
        self._apply_layout()
        self._refresh_panes(first_panes)
        self.drain_events()
        if self.ui_cpu_budget is None:
            self.set_interval(self.poll_interval, self.drain_events)
        else:
            self._pacer = TickPacer(self.poll_interval, self.ui_cpu_budget)
            self.set_timer(self.poll_interval, self._paced_tick)
        if self.handle_signals:
            self._install_signal_handlers()
        if self.trainer is not None:
            self._start_training()

    def on_resize(self, event: events.Resize) -> None:
        layout = arrangement(event.size)  # self.size catches up only after this event
        if layout != self._layout:
            self._layout = layout
            self._apply_layout()

    def _apply_layout(self) -> None:
        """Wide: every pane at once. Narrow: one group (tab) at a time."""
        narrow, view, confusion = self._layout.narrow, self._view, self._show_confusion
        visible = {
            "views": narrow,
            "charts-row": not narrow or (view == "charts" and not confusion),
            "middle-row": not narrow or confusion or view in ("layers", "system"),
            "layers": not confusion and (not narrow or view == "layers"),
            "confusion": confusion,
            "system": not narrow or (view == "system" and not confusion),
            "log": not narrow or (view == "log" and not confusion),
        }
        for widget_id, shown in visible.items():
            self.query_one(f"#{widget_id}").display = shown
        charts = self.query_one("#charts-row")
        charts.set_class(narrow, "-narrow")
        charts.set_class(self._layout.stacked, "-stacked")
        self.query_one("#log").set_class(narrow, "-fill")
        self.query_one(RunHeader).set_problem_line(self._layout.problem_line)
        self.query_one(ViewBar).set_active(view)
        # The focus follows the view: a pane going out of view kept it, so the arrows scrolled a
        # hidden layer table and tab found nothing else; the pane coming in gets it.
        screen = self.screen_stack[0] if self.screen_stack else None
        if screen is not None and (
            screen.focused is None or screen.focused not in screen.focus_chain
        ):
            chain = screen.focus_chain
            screen.set_focus(chain[0] if chain else None)

    # -- events ------------------------------------------------------------------------------

    def drain_events(self) -> None:
        """Fold whatever arrived since the last tick; never waits on the training thread."""
        events = self.source.drain()
        changed = self._fold(events) if events else set()
        if self._evaluation_pending and any(isinstance(e, Evaluation) for e in events):
            self._evaluation_pending = False
        if events:
            self._live_clock.arrived(self.state.run_time, self.clock())
            self._last_event.arrived(
                as_float(events[-1].time),
                self.source.ends_history,
                self.clock(),
                time.time(),
                self._quiet_after() or STALE_AFTER,
            )
        if self.read_only:
            changed |= self._check_quiet() | self._count_wait()
        else:
            changed |= self._tick_clock()
        dropped = self.source.dropped
        if dropped > self._dropped_seen:
            lost = dropped - self._dropped_seen
            changed |= self.state.note("warning", f"{lost:,} events dropped: the UI fell behind")
            self._dropped_seen = dropped
        self._refresh_panes(changed)

    def _fold(self, events: list[Event]) -> set[str]:
        """The state's changes, and at the run's end the charts and the device pane: one still
        empty stops waiting and says the run ended without its data (MetricChart.empty_text)."""
        changed = self.state.apply(events)
        if any(isinstance(event, (RunFinished, RunFailed)) for event in events):
            changed |= {"loss", "accuracy", "device"}
        return changed

    def _paced_tick(self) -> None:
        if drawing_phase(time.time(), self.draw_phase_seconds):
            self.drain_events()
            interval = self._pacer.next_interval()
        else:  # an idle slice must not make the drawing ones that follow run faster
            interval = self._pacer.skip()
        self.set_timer(interval, self._paced_tick)

    def _quiet_after(self) -> float | None:
        """Seconds without an event after which a tailed run may have been killed; None when
        its quiet says nothing."""
        return self.state.quiet_after(STALE_AFTER)

    def _refresh_panes(self, changed: set[str]) -> None:
        # Not once the screens are gone: closed mid-run, the trainer's last events (its
        # checkpoint, its end) can still reach a tick (tests/tui/test_closing.py), and a pane
        # that redraws, or refresh_bindings, needs the app's screen. The state still folds them.
        if not self.screen_stack:
            return
        for pane in changed:
            self._panes[pane].update_from(self.state)  # type: ignore[attr-defined]
        if "header" in changed and not self.read_only:  # Pause or Resume (check_action)
            self.refresh_bindings()

    # -- the training thread -----------------------------------------------------------------

    def _start_training(self) -> None:
        self.trainer_started = True
        self.run_worker(self._train, name="trainer", thread=True, exit_on_error=False)

    def _train(self) -> int:
        assert self.trainer is not None
        try:
            return self.trainer.run()
        finally:
            self.trainer_done.set()

    @property
    def training_active(self) -> bool:
        return self.trainer_started and not self.trainer_done.is_set()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.name != "trainer" or not worker.is_finished:
            return
        self.drain_events()  # the last events (RunFinished, RunFailed) land before we decide
        if event.state == WorkerState.SUCCESS:
            self.trainer_exit_code = int(worker.result or 0)
        elif event.state == WorkerState.ERROR:
            self.trainer_exit_code = 1
            if self.state.failure is None:  # the trainer raised instead of reporting RunFailed
                self._show_crash(worker.error)
        if self.state.active:
            trainer_state = getattr(self.trainer, "state", "finished")
            final = trainer_state if trainer_state in ("finished", "failed") else "finished"
            self._refresh_panes(self.state.set_status(final))
        if self._quit_when_done or self.exit_on_finish:
            self.exit(self.run_exit_code, return_code=self.run_exit_code)
        elif not self.user_quit:
            if isinstance(self.screen, QuitScreen):
                # "Stop training and quit?" asked of a run that has ended on its own: there is
                # nothing left to stop, and q leaves at once now.
                self.screen.dismiss(None)
            ended = "failed" if self.state.failure else "ended"
            self.notify(f"Training {ended}. Press q to leave.", timeout=6)

    def _show_crash(self, error: BaseException | None) -> None:
        if error is None:
            return
        failure = RunFailed(
            error=f"{type(error).__name__}: {error}",
            traceback="".join(traceback.format_exception(error)),
            step=self.state.step,
        )
        self._refresh_panes(self._fold([failure]))

    @property
    def run_exit_code(self) -> int:
        """The run's exit code; 130 when the user stopped it mid-training."""
        if self.read_only:
            return 0
        if self.state.failure is not None:
            return self.state.failure.exit_code or 1
        if self.user_quit:
            return EXIT_INTERRUPTED
        if self.trainer_exit_code is not None:
            return self.trainer_exit_code
        return self.state.finished.exit_code if self.state.finished else 0

    def stop_training(self, reason: str = "quit from the dashboard") -> None:
        """Ask the trainer to stop (it saves last.pt) and leave once its thread has ended."""
        self._quit_when_done = True
        self.stop_reason = self.stop_reason or reason
        if not self.training_active:
            self.exit(self.run_exit_code, return_code=self.run_exit_code)
            return
        self.user_quit = True
        assert self.trainer is not None
        self.trainer.request_stop(reason)
        self._refresh_panes(self.state.set_status("stopping"))
        self.notify("Stopping: saving last.pt, then quitting…", timeout=30)

    # -- signals -----------------------------------------------------------------------------

    # Ctrl-C in the terminal is a key in raw mode (bound like `q`); these are real signals.

    def _install_signal_handlers(self) -> None:
        signals.install(on_stop=self.stop_training, on_hangup=self.hang_up)

    def hang_up(self) -> None:
        """SIGHUP: the terminal is gone. Stop and save as for `q`, without drawing anything."""
        signals.detach_from_terminal()
        self.stop_training("SIGHUP")
        done = self.trainer_done if self.training_active else None
        signals.exit_after(done, EXIT_INTERRUPTED if self.trainer else 0)

    def on_unmount(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        if self.handle_signals:
            signals.uninstall()
        if self.training_active and self.trainer is not None:
            # The app is going (a crash, a forced exit): never leave the trainer running unseen.
            self.trainer.request_stop("the dashboard closed")

    def action_toggle_confusion(self) -> None:
        self._show_confusion = not self._show_confusion
        self._apply_layout()
        self._refresh_panes({"confusion"})

    def action_toggle_log_scale(self) -> None:
        chart = self.query_one(LossChart)
        chart.set_log_scale(not chart.log_scale)

    def action_view(self, view: str) -> None:
        self._view = view
        self._show_confusion = False
        self._apply_layout()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(read_only=self.read_only, launcher=self.launcher))
