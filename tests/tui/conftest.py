"""Helpers for the dashboard's Pilot tests: text of a pane, apps over scripted events."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text
from scripted_run import FakeTrainer, scripted_events
from textual.widgets import Static

from cnntui.engine.buffer import EventBuffer
from cnntui.tui.app import Dashboard
from cnntui.tui.sources import BufferSource, ListSource


def pane_text(app: Dashboard, selector: str) -> str:
    """The plain text a pane renders now (its own render, not the screen's compositing)."""
    widget = app.query_one(selector)
    if type(widget).render is Static.render:  # tables and text set with update()
        return plain(widget.content)
    return plain(widget.render())


def plain(renderable: object, width: int = 200) -> str:
    if isinstance(renderable, Text):
        return renderable.plain
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def help_keys(app: Dashboard) -> set[str]:
    """The keys the open help screen lists: each key line is the key, two spaces, what it does."""
    text = plain(app.screen.query_one(Static).content)
    return {line.split("  ")[0].strip() for line in text.splitlines() if "  " in line.strip()}


def log_text(app: Dashboard) -> str:
    return "\n".join(strip.text for strip in app.query_one("#log").lines)


def live_app(trainer: FakeTrainer, **kwargs) -> Dashboard:
    """What run_dashboard builds, minus app.run(): a trainer feeding a buffer."""
    buffer = EventBuffer()
    trainer.subscribe(buffer)
    return Dashboard(BufferSource(buffer), trainer, poll_interval=0.05, **kwargs)


def replay_app(events=None) -> Dashboard:
    return Dashboard(ListSource(events if events is not None else scripted_events()))


@pytest.fixture
def held_trainer() -> FakeTrainer:
    """A trainer that emits the first 100 steps and then trains on until told to stop."""
    events = scripted_events(finish=False, upto_step=100)
    return FakeTrainer(events, hold_after=len(events))


def screen_text(app: Dashboard) -> str:
    """The text of the whole screen as the terminal would show it (modal screens on top)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()
