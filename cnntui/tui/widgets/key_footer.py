"""The footer of key bindings, kept readable on a terminal too narrow for all of them.

Built on Textual's public API alone: the screen's `active_bindings`, `App.get_key_display` and
the screen's `bindings_updated_signal`. It used to subclass Textual's Footer, run its compose()
and read its FooterKey widgets' attributes, all of it Textual's to change (a Footer that yields
key groups would have silently lost the fitting below).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import ActiveBinding, Binding
from textual.screen import Screen
from textual.widget import Widget

# What a user who sees nothing else must still find: the help lists every other key.
FIRST_ACTIONS = ("help", "quit_dashboard")


@dataclass(frozen=True)
class OfferedKey:
    """One key as the footer shows it."""

    key: str  # the key a click on it presses
    display: str  # how the app writes the key: `?` for question_mark
    description: str
    action: str
    enabled: bool = True  # False: shown dim, and a click only rings the bell

    def width(self, compact: bool) -> int:
        """The columns append_key draws, and a space after the key compact."""
        if not self.description:
            return cell_len(self.display) + (1 if compact else 0)
        return cell_len(self.display) + cell_len(self.description) + (2 if compact else 3)


def offered_keys(
    bindings: Iterable[ActiveBinding], key_display: Callable[[Binding], str]
) -> list[OfferedKey]:
    """The keys to offer, in binding order: those marked `show`, one per action (p is bound
    twice, to Pause and to Resume, and check_action leaves one)."""
    keys: dict[str, OfferedKey] = {}
    for active in bindings:
        binding = active.binding
        if binding.show and binding.action not in keys:
            keys[binding.action] = OfferedKey(
                binding.key, key_display(binding), binding.description, binding.action,
                active.enabled,
            )  # fmt: skip
    return list(keys.values())


def fit_keys(keys: list[OfferedKey], width: int) -> tuple[list[OfferedKey], bool]:
    """The keys that fit `width` columns, and whether they are drawn compact. All of them plain
    where they fit, else compact; where even that does not fit, FIRST_ACTIONS and then the
    others in order, as long as the next fits whole: the edge of the screen used to cut the row,
    and the keys cut were the way to the help and the way out (`q Qu` at 60 columns)."""
    if sum(key.width(compact=False) for key in keys) <= width:
        return keys, False
    if sum(key.width(compact=True) for key in keys) <= width:
        return keys, True
    first = [key for key in keys if key.action in FIRST_ACTIONS]
    kept, used = set(), 0
    for key in first + [key for key in keys if key not in first]:
        used += key.width(compact=True)
        if used > width:
            break
        kept.add(key)
    return [key for key in keys if key in kept], True  # where a wide footer has them


def append_key(
    text: Text, key: OfferedKey, compact: bool, key_style: Style, description_style: Style
) -> Text:
    """`text` and the key as Textual's Footer draws it: ` k desc ` plain, `k desc` compact, and
    a key with no description alone. The space after a compact key is the caller's."""
    if not key.description:
        return text.append(key.display, key_style)
    if compact:
        return text.append(key.display, key_style).append(f" {key.description}", description_style)
    return text.append(f" {key.display} ", key_style).append(
        f"{key.description} ", description_style
    )


class KeyFooter(Widget):
    """The keys the screen offers now, on the bottom line, each shown whole or left out."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-footer--key",
        "key-footer--description",
        "key-footer--hover",
    }
    # The colours and spacing of Textual's Footer, from the theme's footer variables.
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .key-footer--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._keys: list[OfferedKey] = []
        self._spans: list[tuple[int, int, OfferedKey]] = []  # columns of each key drawn
        self._hovered: OfferedKey | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        # Published on every header change of a live run: redraw only when the keys change.
        keys = offered_keys(screen.active_bindings.values(), self.app.get_key_display)
        if keys != self._keys:
            self._keys = keys
            self.refresh()

    @property
    def shown_keys(self) -> list[OfferedKey]:
        return [key for _, _, key in self._spans]

    def render(self) -> Text:
        keys, compact = fit_keys(self._keys, self.size.width)
        key_style = self.get_component_rich_style("key-footer--key", partial=True)
        description_style = self.get_component_rich_style("key-footer--description", partial=True)
        text, self._spans = Text(no_wrap=True, overflow="crop"), []
        for key in keys:
            start = text.cell_len
            append_key(text, key, compact, key_style, description_style)
            if not key.enabled:
                text.stylize(Style(dim=True), start)
            if key == self._hovered:
                text.stylize_before(self.get_component_rich_style("key-footer--hover"), start)
            self._spans.append((start, text.cell_len, key))
            if compact:
                text.append(" ")
        return text

    def _key_at(self, x: int) -> OfferedKey | None:
        return next((key for start, end, key in self._spans if start <= x < end), None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        key = self._key_at(event.x)
        if key is not None and key.enabled:
            self.app.simulate_key(key.key)
        elif key is not None:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._hover(self._key_at(event.x))

    def on_leave(self) -> None:
        self._hover(None)

    def _hover(self, key: OfferedKey | None) -> None:
        if key != self._hovered:
            self._hovered = key
            self.refresh()
