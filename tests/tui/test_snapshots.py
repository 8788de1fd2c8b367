"""SVG snapshots at 80x24 and 160x48; events carry fixed times, so the pictures are stable.

Update after a deliberate change with `pytest tests/tui --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

from conftest import live_app, replay_app
from scripted_run import FakeTrainer, failing_events, scripted_events, until

NARROW = (80, 24)
WIDE = (160, 48)


def test_finished_run_wide(snap_compare) -> None:
    assert snap_compare(replay_app(scripted_events(device="cuda:0")), terminal_size=WIDE)


def test_finished_run_narrow_charts(snap_compare) -> None:
    assert snap_compare(replay_app(), terminal_size=NARROW)


def test_narrow_layers_view(snap_compare) -> None:
    events = scripted_events(finish=False, upto_step=100)  # layer 0's gradient still vanishing
    assert snap_compare(replay_app(events), press=["2"], terminal_size=NARROW)


def test_narrow_system_view_on_a_gpu(snap_compare) -> None:
    assert snap_compare(
        replay_app(scripted_events(device="cuda:0")), press=["3"], terminal_size=NARROW
    )


def test_narrow_log_view(snap_compare) -> None:
    assert snap_compare(replay_app(), press=["4"], terminal_size=NARROW)


def test_confusion_matrix_wide(snap_compare) -> None:
    assert snap_compare(replay_app(), press=["c"], terminal_size=WIDE)


def test_log_scale_loss_narrow(snap_compare) -> None:
    assert snap_compare(replay_app(), press=["l"], terminal_size=NARROW)


def test_failed_run_narrow(snap_compare) -> None:
    assert snap_compare(replay_app(failing_events()), press=["4"], terminal_size=NARROW)


def test_failed_run_wide(snap_compare) -> None:
    assert snap_compare(replay_app(failing_events()), terminal_size=WIDE)


def test_help_screen_narrow(snap_compare) -> None:
    assert snap_compare(replay_app(), press=["question_mark"], terminal_size=NARROW)


def test_quit_confirmation_while_training(snap_compare) -> None:
    events = scripted_events(finish=False, upto_step=100)
    trainer = FakeTrainer(events, hold_after=len(events))
    app = live_app(trainer)
    app.clock = lambda: 0.0  # the header's clock ticks on between events: not in a picture

    async def wait_for_the_run(pilot) -> None:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.press("q")

    assert snap_compare(app, run_before=wait_for_the_run, terminal_size=NARROW)
