"""The key footer: every key it shows is whole, and it follows the bindings and the mouse."""

from __future__ import annotations

import pytest
from conftest import live_app, screen_text
from rich.style import Style
from rich.text import Text
from scripted_run import FakeTrainer, until

from cnntui.tui.screens import HelpScreen
from cnntui.tui.widgets.key_footer import KeyFooter, OfferedKey, append_key, fit_keys

LIVE_LABELS = ("p Pause", "s Save", "e Eval", "c Confusion", "l Log-y", "? Help", "q Quit")


def labelled(*labels: str) -> list[OfferedKey]:
    return [OfferedKey(label[0], label[0], label[2:], label[2:].lower()) for label in labels]


def footer_labels(app) -> list[str]:
    """The footer's line read as `key description` pairs."""
    words = screen_text(app).splitlines()[-1].split()
    return [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]


def test_keys_go_compact_then_whole_keys_go_help_and_quit_last() -> None:
    keys = labelled("a Alpha", "b Beta", "c Gamma")
    keys += [OfferedKey("?", "?", "Help", "help"), OfferedKey("q", "q", "Quit", "quit_dashboard")]
    plain = sum(key.width(compact=False) for key in keys)  # 9 + 8 + 9 + 8 + 8
    assert fit_keys(keys, plain) == (keys, False)
    assert fit_keys(keys, plain - 1) == (keys, True)
    # Compact, 8 + 7 + 8 + 7 + 7: Help and Quit first (14), then Alpha (22); Beta (29) does not
    # fit whole, and the keys stay in their order.
    assert fit_keys(keys, 28) == ([keys[0], keys[3], keys[4]], True)
    assert fit_keys(keys, 5) == ([], True)


@pytest.mark.parametrize("width", [30, 40, 50, 60, 80], ids=lambda w: f"{w} columns")
async def test_the_footer_shows_whole_keys_only(width: int, held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=(width, 24)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.pause()
        labels = footer_labels(app)
    assert all(label in LIVE_LABELS for label in labels), labels  # `c Con` at 50 columns
    assert labels == [label for label in LIVE_LABELS if label in labels]  # in the wide order
    assert {"? Help", "q Quit"} <= set(labels)
    if width >= 80:
        assert labels == list(LIVE_LABELS)


async def test_a_click_on_a_key_presses_it(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=(50, 24)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.pause()
        column = screen_text(app).splitlines()[-1].index("? Help")
        assert await pilot.click(KeyFooter, offset=(column + 3, 0))
        assert isinstance(app.screen, HelpScreen)


async def test_the_footer_follows_what_p_does_now(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.press("p")
        assert await until(pilot, lambda: "p Resume" in footer_labels(app))
        assert "p Pause" not in footer_labels(app)


@pytest.mark.parametrize("compact", [False, True], ids=["plain", "compact"])
def test_a_key_with_no_description_is_drawn_alone_and_counted_so(compact: bool) -> None:
    # Textual's Footer draws such a key alone: `x`, where this drew `x ` (` x  ` plain) and
    # counted a column more than Textual's.
    bare, described = OfferedKey("x", "x", "", "mark"), OfferedKey("a", "a", "Alpha", "alpha")
    for key, drawn in ((bare, "x"), (described, "a Alpha" if compact else " a Alpha ")):
        text = append_key(Text(), key, compact, Style(), Style())
        assert text.plain == drawn
        assert key.width(compact) == text.cell_len + compact  # compact: the space after it
