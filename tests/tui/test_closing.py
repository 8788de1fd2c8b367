"""The dashboard while it closes: the timer can still tick once its screens are gone."""

from __future__ import annotations

from conftest import live_app
from scripted_run import FakeTrainer, until

from cnntui.tui.state import PANES


async def test_a_tick_after_the_screens_are_gone_does_not_raise(
    held_trainer: FakeTrainer,
) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
    # Closed while training: on_unmount asked the trainer to stop, and its last events (the
    # checkpoint, the interrupted finish) wait for a tick that can come before the timer stops.
    assert not app.screen_stack
    # The trainer's thread sends them within its next 10 ms wait: drained sooner, none is there.
    assert app.trainer_done.wait(30)
    app.drain_events()
    assert app.state.status == "interrupted"
    # Whichever panes an event redraws, none is drawn on an app with no screen left.
    app._refresh_panes(set(PANES))
