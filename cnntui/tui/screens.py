"""Modal screens: confirm quitting a live run, and the key help."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

HELP_TEXT = """\
[b]p[/b]  pause / resume training
[b]s[/b]  save a checkpoint now
[b]e[/b]  evaluate now (the validation split, else test)
[b]c[/b]  show / hide the confusion matrix of the last evaluation
[b]l[/b]  loss chart: linear / log scale
[b]1-4[/b]  narrow terminals: charts, layers, system, log
[b]tab[/b]  move focus (layer table, log) · arrows scroll
[b]?[/b]  this help
[b]q[/b]  quit (while training: stops after saving last.pt)

Layer status: [yellow]vanish[/] gradient norm < 1e-7 · [red]explode[/] > 1e3 or not finite \
· [magenta]dead[/] > 50% of ReLU units always zero."""


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

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class HelpScreen(ModalScreen[None]):
    """The key reference; any of escape, ? or q closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Static {
        width: 76;
        max-width: 100%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", priority=True)
    ]

    def compose(self) -> ComposeResult:
        yield Static(HELP_TEXT)

    def action_close(self) -> None:
        self.dismiss(None)
