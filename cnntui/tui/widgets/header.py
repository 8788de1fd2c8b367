"""The header pane: run, model, data, device, progress, elapsed, ETA and state."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from cnntui.engine.events import COMPILING, FIRST_STEP, evaluating, saving
from cnntui.runlog import EVENTS_FILE
from cnntui.tui import format as fmt
from cnntui.tui.silence import Silence, clock_time
from cnntui.tui.state import RunState
from cnntui.tui.unstarted import SetUp

# A symbol as well as a colour, so the state reads the same under NO_COLOR or 16 colours.
STATE_BADGES = {
    "starting": ("◌ STARTING", "bold"),
    "waiting": ("◌ WAITING", "bold"),
    "setting up": ("◌ SETTING UP", "bold"),  # watch: a run holds the directory awaited
    "running": ("● RUNNING", "bold green"),
    "paused": ("❚❚ PAUSED", "bold yellow"),
    "stopping": ("◼ STOPPING", "bold yellow"),
    "finished": ("✔ FINISHED", "bold cyan"),
    "interrupted": ("◼ INTERRUPTED", "bold yellow"),
    "diverged": ("✖ DIVERGED", "bold red"),
    "failed": ("✖ FAILED", "bold red reverse"),
}
# watch: a run that says it is running but has written nothing for a while may have been killed
# (kill -9, a lost machine): it cannot say so itself, so the badge stops claiming it runs.
QUIET_BADGE = ("? SILENT", "bold yellow")
# What the badge says a run is busy with (RunState.busy_with), in forms from the longest to the
# shortest; a phase not listed (a newer cnntui's) shows as its heartbeats spell it.
PHASE_FORMS = {
    FIRST_STEP: ("first step",),
    COMPILING: ("compiling the first step", "compiling"),
    evaluating("test"): ("evaluating the test set", "evaluating"),
    evaluating("val"): ("evaluating the validation set", "evaluating"),
    saving("best.pt"): ("saving best.pt", "saving"),
    saving("last.pt"): ("saving last.pt", "saving"),
}
# What a silent run went quiet in, where "while" and the badge's form do not make a phrase.
QUIET_FORMS = {FIRST_STEP: (" in its first step",)}
PROGRESS_WIDTH = 20


def phase_forms(phase: str, lasted: float | None) -> tuple[str, ...]:
    """The badge's ` · evaluating the test set (1:05)` in its forms, the longest first: the
    time goes last, where not even the shortest name fits beside it."""
    names = PHASE_FORMS.get(phase, (phase,))
    if lasted is None:
        return tuple(f" · {name}" for name in names)
    return (*(f" · {name} ({fmt.duration(lasted)})" for name in names), f" · {names[-1]}")


def quiet_forms(state: RunState) -> tuple[str, ...]:
    """What a silent run was doing when its heartbeats stopped (` while paused`, ` while
    evaluating the test set`), the longest form first; () when they said nothing of it."""
    if state.status == "paused":
        return (" while paused",)
    phase = state.busy_with
    if phase is None:
        return ()
    if phase in QUIET_FORMS:  # not " while first step"
        return QUIET_FORMS[phase]
    return tuple(f" while {name}" for name in PHASE_FORMS.get(phase, (phase,)))


def append_fitting(line: Text, parts: list[tuple[str, ...]], width: int) -> Text:
    """`line` and the parts, in order, that fit in `width` columns, each in the first of its
    forms that fits. A fact shows whole or not at all: cut by the ellipsis, `step 240/11,75…`
    read as another number, and `data f…` as nothing."""
    for forms in parts:
        form = next((f for f in forms if line.cell_len + len(f) <= width), None)
        if form is None:
            break  # the facts after it matter less: they stop here too
        line.append(form)
    return line


class RunHeader(Static):
    """Two lines of run facts, and a third for what ended the run when it failed, diverged or
    was stopped with a message; under 21 rows (layout.py) that message goes on the second line
    instead, after the state and before the epoch and the step."""

    DEFAULT_CSS = """
    RunHeader {
        height: auto;
        padding: 0 1;
        background: $boost;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, mode: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mode = mode  # "live" or "watch"
        self.silence: Silence | None = None  # watch: since when no event has come, when long
        # live: the run's elapsed time, going on between its events; None: the state's
        self.elapsed: float | None = None
        # watch: the run directory no run has written to yet, and how long it has been waited on
        self.awaiting: Path | None = None
        self.appeared = True  # False while that directory does not exist yet
        self.waited = 0.0
        self.set_up: SetUp | None = None  # watch: the run that made it, before its first event
        self.problem_line = True  # the error on a line of its own; cnntui/tui/layout.py
        self._state: RunState | None = None
        self._has_problem_line = False

    def update_from(self, state: RunState) -> None:
        self._state = state
        self._refresh_lines()

    def set_problem_line(self, own_line: bool) -> None:
        self.problem_line = own_line
        self._refresh_lines()

    def _refresh_lines(self) -> None:
        # A relayout of the screen costs more than the repaint: ask for one only when the
        # header grows or shrinks (the problem line comes or goes).
        state = self._state or RunState()
        has_problem_line = self.problem_line and self._problem(state) is not None
        self.refresh(layout=has_problem_line != self._has_problem_line)
        self._has_problem_line = has_problem_line

    def render(self) -> Text:
        state = self._state or RunState()
        width = max(20, self.size.width)  # the content's width: the padding is outside it
        lines = [self._identity_line(state, width)]
        problem = self._problem(state)
        if problem is None:
            lines.append(self._progress_line(state, width))
        elif self.problem_line:
            symbol, message, style = problem
            lines += [self._progress_line(state, width), Text(f"{symbol} {message}", style=style)]
        else:
            lines.append(self._badge_and_problem_line(state, problem, width))
        text = Text("\n").join(lines)
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text

    def _identity_line(self, state: RunState, width: int) -> Text:
        line = Text()
        line.append("cnntui ", style="bold")
        line.append("watch " if self.mode == "watch" else "", style="reverse")
        started = state.started
        if started is None and self.awaiting is not None:
            set_up = self.set_up
            if self.mode == "live":  # a run this command launched (`run --nproc`), setting up
                line.append(f"setting up the run in {self.awaiting}…", style="bold")
            elif set_up is not None and set_up.ended:
                line.append(f"the run in {self.awaiting} ended while setting up", style="bold")
            elif set_up is not None:
                line.append(f"a run is setting up in {self.awaiting}…", style="bold")
            elif not self.appeared:
                line.append(f"waiting for {self.awaiting} to appear…", style="bold")
            else:
                line.append(f"no run has written to {self.awaiting} yet", style="bold")
            return line
        if started is None:
            line.append("waiting for the run to start…", style="dim")
            return line
        device = started.device
        devices = [f" · {device}"]
        if started.device_name and started.device_name != started.device:
            devices.insert(0, f" · {device} ({started.device_name})")
        line.append(started.run_name, style="bold")
        parts = [(f"  model {started.model}",), (f" · data {started.dataset}",), tuple(devices)]
        return append_fitting(line, parts, width)

    def _badge(self, state: RunState) -> Text:
        status = state.status
        if state.started is None and self.set_up is not None:
            status = "setting up"  # or silent, when it has ended
        badge, style = STATE_BADGES.get(status, (status.upper(), "bold"))
        if self.silence is not None:
            badge, style = QUIET_BADGE
        return Text().append(badge, style=style)  # a span: Text(badge, style) would style all

    def _position(self, state: RunState) -> list[tuple[str, ...]]:
        """The epoch and the step, as parts for append_fitting."""
        started = state.started
        epochs = started.epochs if started else 0
        epoch = min(state.epoch + 1, epochs) if epochs else state.epoch + 1
        total = state.total_steps
        steps = f"{state.step:,}/{total:,}" if total else f"{state.step:,}"
        return [(f"  epoch {epoch}/{epochs or '?'}",), (f"  step {steps}",)]

    def _badge_and_problem_line(
        self, state: RunState, problem: tuple[str, str, str], width: int
    ) -> Text:
        """A short terminal's second line: the state and what went wrong, which the render's
        ellipsis cuts where it must, then the epoch and the step where they fit whole."""
        _, message, style = problem
        line = self._badge(state).append(f"  {message}", style=style)
        return append_fitting(line, self._position(state), width)

    def _progress_line(self, state: RunState, width: int) -> Text:
        line = self._badge(state)
        silence = self.silence
        if silence is not None:  # first, where a narrow terminal does not cut it off
            # "? SILENT since 14:02 (2:13:05 ago)": short enough that 80 columns keep the epoch,
            # the step and the elapsed time (" while paused" may push the time off); the clock
            # time is the last event's.
            since = clock_time(silence.since, silence.since + silence.seconds)
            ago = f" since {since} ({fmt.duration(silence.seconds)} ago)"
            # Its heartbeats stopped: killed while paused or evaluating, not in the middle of
            # training; the phase in a shorter form, or none, where "since" would not fit.
            room = width - line.cell_len - len(ago)
            during = next((form for form in quiet_forms(state) if len(form) <= room), "")
            line.append(during + ago, style=QUIET_BADGE[1])
        started = state.started
        if started is None and self.set_up is not None:  # the first line names the directory
            if not self.set_up.ended:
                line.append(f"  waited {fmt.duration(self.waited)}")
            return line
        if started is None and self.awaiting is not None:
            # No epoch, step or elapsed time to show: a clock stuck at 0:00 looks like a hang,
            # so where the path and the clock do not both fit (40 columns) the path goes.
            path = f"  for {self.awaiting / EVENTS_FILE}"
            waited = f"  waited {fmt.duration(self.waited)}"
            if line.cell_len + len(path) + len(waited) > width:
                path = ""
            return line.append(path + waited)
        phase = state.busy_with if silence is None else None
        elapsed = state.run_time if self.elapsed is None else self.elapsed
        # Beside the badge, before the epoch and the step: they stand still through the phase,
        # and its time, on the clock of the elapsed time, goes on.
        busy = [phase_forms(phase, state.busy_for(elapsed))] if phase else []
        append_fitting(line, busy + self._position(state), width)
        tail: list[tuple[str, ...]] = [(f"  elapsed {fmt.duration(elapsed)}",)]
        eta = state.eta if silence is None else None  # no ETA for a run that may be dead
        if eta is not None:
            tail.append((f"  ETA {fmt.duration(eta)}",))
        if state.best_accuracy is not None:
            tail.append((f"  best {fmt.percent(state.best_accuracy)}",))
        tail_text = append_fitting(Text(), tail, width - line.cell_len)
        progress = state.progress
        # The bar's own columns beside the two spaces and ` 100%`, three to spare at the end.
        room = width - line.cell_len - tail_text.cell_len - 10
        if progress is not None and room >= 6:
            bar = min(PROGRESS_WIDTH, room)
            done = round(progress * bar)
            line.append("  ")
            line.append("━" * done, style="green")
            line.append("─" * (bar - done), style="dim")
            line.append(f" {progress * 100:3.0f}%")
        return line.append_text(tail_text)

    def _problem(self, state: RunState) -> tuple[str, str, str] | None:
        """What went wrong, if anything: its symbol, the first line of its message (the log has
        it whole) and their style."""
        if state.failure is not None:
            return "✖", first_line(state.failure.error), "bold red"
        finished = state.finished
        if finished is None or finished.status == "finished" or not finished.message:
            return None
        if finished.status == "interrupted":  # asked for (SIGTERM, q): a fact, not an error
            return "◼", f"stopped: {first_line(finished.message)}", "bold yellow"
        return "✖", first_line(finished.message), "bold red"


def first_line(message: str) -> str:
    """A message's first line with text. Torch's CUDA errors run to three ("...\nCUDA kernel
    errors might be asynchronously reported...\nFor debugging consider..."): whole, they made the
    one-line header three lines, pushing epoch and step off it, and a third line three."""
    return next((line.strip() for line in message.splitlines() if line.strip()), "")
