"""Modal screens: confirm quitting a live run, and the key help."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widgets import Button, Static

# What each key does, in the order the help lists them. The control keys act on a live run
# only: `watch` reads someone else's run, and its help must not offer keys that do nothing.
CONTROL_KEYS = (
    ("p", "pause / resume training"),
    ("s", "save a checkpoint now (last.pt)"),
    ("e", "evaluate now (the validation split, else test)"),
)
VIEW_KEYS = (
    ("c", "show / hide the confusion matrix of the last evaluation"),
    ("l", "loss chart: linear / log scale"),
    ("1-4", "narrow terminals: charts, layers, system, log"),
    ("tab", "move focus (layer table, log) · arrows scroll"),
    ("?", "this help"),
)
QUIT_LIVE = ("q", "quit (while training: stops after saving last.pt)")
QUIT_WATCH = ("q", "quit (a run still writing goes on: watch only reads it)")
QUIT_LAUNCH = ("q", "quit (while training: stops every rank; rank 0 saves last.pt)")
READ_ONLY_NOTE = "Read-only: pausing, saving and evaluating belong to `cnntui run`."
LAUNCH_NOTE = "A data-parallel run (--nproc): no pausing, saving or evaluating from here."
LAYER_STATUS = (
    "Layer status: [yellow]vanish[/] gradient norm < 1e-7 · [red]explode[/] > 1e3 or not finite "
    "· [magenta]dead[/] > 50% of ReLU units always zero."
)
# The table's border says "N columns hidden · widen the terminal"; the help says what goes first.
LAYER_COLUMNS = (
    "A narrow layer table hides columns, Params first, then the health numbers (its border "
    "says how many): widen the terminal to see them."
)
# Below this many columns or rows the quit question's buttons do not fit side by side, framed.
SMALL_DIALOG = (50, 14)


def help_text(read_only: bool, launcher: bool = False) -> str:
    """The help for the keys that work in this mode: `watch` (read_only), a live run, or the
    launcher's dashboard of a data-parallel run (read-only, but q stops it)."""
    if launcher:
        lines = [LAUNCH_NOTE, "", *key_lines([*VIEW_KEYS, QUIT_LAUNCH])]
    elif read_only:
        lines = [READ_ONLY_NOTE, "", *key_lines([*VIEW_KEYS, QUIT_WATCH])]
    else:
        lines = key_lines([*CONTROL_KEYS, *VIEW_KEYS, QUIT_LIVE])
    return "\n".join([*lines, "", LAYER_STATUS, LAYER_COLUMNS])


def key_lines(keys: list[tuple[str, str]]) -> list[str]:
    return [f"[b]{key}[/b]  {what}" for key, what in keys]


class QuitScreen(ModalScreen[bool]):
    """Asks before stopping a live run; y/enter confirms, n/escape keeps training."""

    DEFAULT_CSS = """
    QuitScreen {
        align: center middle;
    }
    QuitScreen > Vertical {
        width: 60;
        max-width: 100%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 1 2;
    }
    QuitScreen Horizontal {
        height: auto;
        margin-top: 1;
    }
    QuitScreen Button {
        margin-right: 2;
    }
    /* A small terminal (40x12, 80x10): one-line buttons one above the other, so the question,
       both answers and the frame fit, and the box scrolls where even that does not. */
    QuitScreen > Vertical {
        max-height: 100%;
        overflow-y: auto;
    }
    QuitScreen.-small > Vertical {
        padding: 0 1;
    }
    QuitScreen.-small Horizontal {
        layout: vertical;
    }
    QuitScreen.-small Button {
        width: 100%;
        margin: 0;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter,q,ctrl+c", "answer(True)", "Stop and quit", show=False, priority=True),
        Binding("n,escape", "answer(False)", "Keep training", show=False, priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "[b]Stop training and quit?[/b]\n"
                "The trainer finishes the current step and saves last.pt first."
            )
            with Horizontal():
                yield Button("Stop and quit (y)", variant="warning", id="yes")
                yield Button("Keep training (n)", id="no")

    def on_mount(self) -> None:
        self._fit(self.app.size)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size)

    def _fit(self, size: Size) -> None:
        small = size.width < SMALL_DIALOG[0] or size.height < SMALL_DIALOG[1]
        self.set_class(small, "-small")
        for button in self.query(Button):
            button.compact = small  # one line, no frame

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class HelpScreen(ModalScreen[None]):
    """The key reference for the keys that work here; any of escape, ? or q closes it."""

    # The box never outgrows the terminal: on a short one (80x12 over SSH) it scrolls, with
    # the arrows and page keys (it takes the focus) or the wheel, so every key stays reachable.
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
        &:focus { background-tint: transparent; }
    }
    HelpScreen Static {
        padding: 1 1;  /* inside the scrolled part: a short terminal gives it to the text */
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", priority=True)
    ]

    def __init__(self, read_only: bool, launcher: bool = False) -> None:
        super().__init__()
        self.read_only = read_only
        self.launcher = launcher

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(self.read_only, self.launcher))

    def action_close(self) -> None:
        self.dismiss(None)
