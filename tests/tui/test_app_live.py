"""The live dashboard over a fake trainer: every pane fills, every key acts on the trainer."""

from __future__ import annotations

import threading

from conftest import help_keys, live_app, log_text, pane_text
from scripted_run import T0, FakeTrainer, confusion, failing_events, scripted_events, until
from textual import events

from cnntui.engine.events import StateChanged
from cnntui.tui.screens import HelpScreen, QuitScreen
from cnntui.tui.widgets.layers import LayerTable

WIDE = (160, 48)


async def test_panes_fill_from_a_live_run(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        assert await until(pilot, lambda: app.state.step == 100)
        await pilot.pause(0.1)
        header = pane_text(app, "#header")
        assert "20231114-221320-lenet-fmnist" in header and "model lenet" in header
        assert "RUNNING" in header and "epoch 1/3" in header and "step 100/300" in header
        assert "ETA" in header
        table = app.query_one(LayerTable)
        assert table.row_count == 12
        assert table.cell("0", "status").text == "vanish"
        assert table.cell("3", "grad").text == "0.012"
        assert "RSS" in pane_text(app, "#device") and "185%" in pane_text(app, "#device")
        numbers = pane_text(app, "#throughput-numbers")
        assert "ex/s now" in numbers and "waiting on data 4.0%" in numbers
        assert len(app.query_one("#throughput-sparkline").data) == 10
        loss = pane_text(app, "#loss")
        assert "train" in loss and "val" in loss  # plotext legend
        assert "train" in pane_text(app, "#accuracy")
        assert "epoch 1/3" in log_text(app)
        assert "gradient vanishing" in log_text(app)
        assert app.query_one("#loss").border_subtitle.startswith("train ")


async def test_p_pauses_and_resumes(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        assert app.active_bindings["p"].binding.description == "Pause"
        await pilot.press("p")
        assert held_trainer.calls == ["pause"]
        assert "PAUSED" in pane_text(app, "#header")
        # The footer offers what p does now, and the rate of the last window is not "now".
        assert app.active_bindings["p"].binding.description == "Resume"
        assert "paused ·" in pane_text(app, "#throughput-numbers") and "ex/s now" not in pane_text(
            app, "#throughput-numbers"
        )
        assert await until(pilot, lambda: "paused at step 100" in log_text(app))
        await pilot.press("p")
        assert held_trainer.calls == ["pause", "resume"]
        assert await until(pilot, lambda: "RUNNING" in pane_text(app, "#header"))
        assert app.active_bindings["p"].binding.description == "Pause"
        assert "ex/s now" in pane_text(app, "#throughput-numbers")


async def test_s_saves_a_checkpoint(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.press("s")
        assert "request_save" in held_trainer.calls
        assert await until(pilot, lambda: "saved manual checkpoint step-100.pt" in log_text(app))


async def test_e_evaluates_and_c_shows_the_confusion_matrix(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        confusion = app.query_one("#confusion")
        assert not confusion.display
        await pilot.press("c")
        assert confusion.display and not app.query_one("#layers").display
        assert "press e to evaluate" in pane_text(app, "#confusion-table")
        await pilot.press("e")
        assert "request_evaluate" in held_trainer.calls
        assert await until(pilot, lambda: app.state.evaluation is not None)
        await pilot.pause(0.05)
        table = pane_text(app, "#confusion-table")
        assert "T-shirt/top" in table and "Ankle boot" in table
        assert "acc" in confusion.border_subtitle
        await pilot.press("c")
        assert not confusion.display and app.query_one("#layers").display


async def test_l_switches_the_loss_axis_to_log(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        chart = app.query_one("#loss")
        linear = pane_text(app, "#loss")
        await pilot.press("l")
        assert chart.log_scale and chart.border_title == "Loss (log)"
        assert pane_text(app, "#loss") != linear
        await pilot.press("l")
        assert not chart.log_scale and chart.border_title == "Loss"


async def test_question_mark_opens_help_and_escape_closes_it(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert {"p", "s", "e", "c", "l", "q"} <= help_keys(app)  # the controls work here
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_q_asks_first_and_n_keeps_training(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, QuitScreen)
        assert "request_stop" not in held_trainer.calls
        assert app.is_running


async def test_q_and_confirm_stops_the_trainer_then_exits_130(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.press("q", "y")
        assert held_trainer.stop_reasons == ["quit from the dashboard"]
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 130
    assert held_trainer.state == "finished"
    assert app.trainer_done.is_set()
    assert any("saved last checkpoint last.pt" in line.text for line in app.state.log)


async def test_ctrl_c_twice_stops_and_quits(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("ctrl+c")
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 130 and "request_stop" in held_trainer.calls


async def test_finished_run_stays_open_until_q() -> None:
    trainer = FakeTrainer(scripted_events())
    app = live_app(trainer)
    async with app.run_test(size=WIDE) as pilot:
        assert await until(pilot, lambda: app.trainer_exit_code == 0)
        await pilot.pause(0.1)
        assert app.is_running
        assert "FINISHED" in pane_text(app, "#header")
        await pilot.press("p")  # nothing to pause any more: a notice, no call
        assert not {"pause", "resume"} & set(trainer.calls)
        await pilot.press("q")  # no question once training is over
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_exit_on_finish_closes_with_the_trainer_code() -> None:
    trainer = FakeTrainer(scripted_events(), exit_code=3)
    app = live_app(trainer, exit_on_finish=True)
    async with app.run_test(size=WIDE) as pilot:
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 3


async def test_run_failed_shows_the_error_and_stays() -> None:
    trainer = FakeTrainer(failing_events(), exit_code=1)
    app = live_app(trainer)
    async with app.run_test(size=WIDE) as pilot:
        assert await until(pilot, lambda: app.trainer_done.is_set() and app.state.failure)
        await pilot.pause(0.1)
        assert app.is_running
        header = pane_text(app, "#header")
        assert "FAILED" in header and "CUDA out of memory" in header
        assert "torch.OutOfMemoryError" in log_text(app)
        await pilot.press("q")
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 1


async def test_a_trainer_that_raises_is_shown_not_fatal() -> None:
    events = scripted_events(finish=False, upto_step=20)
    trainer = FakeTrainer(events, raise_error=RuntimeError("boom in the data loader"))
    app = live_app(trainer)
    async with app.run_test(size=WIDE) as pilot:
        assert await until(pilot, lambda: app.state.failure is not None)
        await pilot.pause(0.1)
        assert app.is_running
        assert "RuntimeError: boom in the data loader" in pane_text(app, "#header")
        assert "boom in the data loader" in log_text(app)
        await pilot.press("q")
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 1


async def test_narrow_terminal_shows_one_view_at_a_time(held_trainer: FakeTrainer) -> None:
    app = live_app(held_trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.state.step == 100)

        def shown() -> set[str]:
            ids = ("views", "loss", "accuracy", "layers", "device", "throughput", "log")
            return {i for i in ids if app.query_one(f"#{i}").display and _visible(app, i)}

        assert shown() == {"views", "loss", "accuracy"}
        assert "▸ 1 Charts" in pane_text(app, "#views")
        await pilot.press("2")
        assert shown() == {"views", "layers"}
        await pilot.press("3")
        assert shown() == {"views", "device", "throughput"}
        await pilot.press("4")
        assert shown() == {"views", "log"}
        await pilot.press("c")
        assert app.query_one("#confusion").display and "log" not in shown()
        await pilot.press("1")
        assert shown() == {"views", "loss", "accuracy"}
        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.05)
        assert shown() == {"loss", "accuracy", "layers", "device", "throughput", "log"}


async def test_the_focus_never_stays_on_a_pane_out_of_view(held_trainer: FakeTrainer) -> None:
    """The layer table kept the focus in the charts view, where it is hidden: the arrows
    scrolled a table nobody could see, and tab found nothing else to go to."""
    app = live_app(held_trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        for key in ("1", "2", "tab", "4", "1", "3", "c", "2", "1"):
            await pilot.press(key)
            focused = app.focused
            assert focused is None or focused in app.screen.focus_chain, (key, focused)
        await pilot.press("2")  # the view's pane takes the focus: the arrows scroll it at once
        assert app.focused is app.query_one("#layers")


def _visible(app, pane_id: str) -> bool:
    """Shown and every ancestor shown."""
    node = app.query_one(f"#{pane_id}")
    while node is not None and node is not app.screen:
        if not node.display:
            return False
        node = node.parent
    return True


async def test_the_app_never_blocks_the_trainer() -> None:
    """A trainer emitting thousands of events while the UI drains: every event arrives."""
    events = scripted_events(epochs=20, steps_per_epoch=500, window=5)
    trainer = FakeTrainer(events)
    app = live_app(trainer)
    async with app.run_test(size=WIDE) as pilot:
        assert await until(pilot, lambda: app.trainer_done.is_set())
        assert await until(pilot, lambda: app.state.status == "finished")
    assert len(app.state.loss) == 10_000


async def test_e_again_before_the_result_does_not_queue_another_pass(
    held_trainer: FakeTrainer,
) -> None:
    """The trainer clears its request when it starts evaluating: e pressed during that pass (or
    e e e while paused) queued one more full pass each time. Until the result arrives, the
    dashboard says it is on its way instead of asking again."""
    app = live_app(held_trainer)
    requests: list[int] = []
    held_trainer.request_evaluate = lambda: requests.append(1)  # slow: no result yet
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.press("e", "e", "e")
        assert len(requests) == 1
        messages = [n.message for n in app._notifications]
        assert any("already requested" in m for m in messages)
        held_trainer.emit(confusion(100, T0 + 10))  # the evaluation ends
        assert await until(pilot, lambda: app.state.evaluation is not None)
        await pilot.press("e")  # a new request once the last one has answered
        assert len(requests) == 2


async def test_keys_after_the_end_say_where_the_run_is() -> None:
    """s and e on a finished run point at its checkpoints and at `cnntui eval`, rather than
    refusing with "the run is not active"."""
    trainer = FakeTrainer(scripted_events())
    app = live_app(trainer)
    async with app.run_test(size=WIDE) as pilot:
        assert await until(pilot, lambda: app.state.status == "finished")
        await pilot.press("s", "e", "p")
        messages = [n.message for n in app._notifications]
        run_dir = "runs/20231114-221320-lenet-fmnist"
        assert f"Training has finished: what it saved is in {run_dir}." in messages
        assert f"Training has finished: evaluate its last.pt with `cnntui eval {run_dir}`." in (
            messages
        )
        assert "Training has finished: nothing to pause." in messages
        assert not {"request_save", "request_evaluate", "pause"} & set(trainer.calls)


async def test_a_refused_key_pressed_again_does_not_stack_its_notice() -> None:
    """p p p p p on a finished run showed five identical toasts; the same notice replaces
    the one still shown, while a different one (s) is shown beside it."""
    app = live_app(FakeTrainer(scripted_events()))
    async with app.run_test(size=WIDE, notifications=True) as pilot:  # toasts shown
        assert await until(pilot, lambda: app.state.status == "finished")
        await pilot.pause(0.05)
        before = len(app._notifications)  # "Training ended. Press q to leave."
        await pilot.press(*"ppppp")
        await pilot.pause(0.05)
        messages = [n.message for n in app._notifications]
        assert messages.count("Training has finished: nothing to pause.") == 1
        assert len(messages) == before + 1
        assert len(app.screen.query("Toast")) == before + 1
        await pilot.press("s", "p")
        await pilot.pause(0.05)
        assert len(app._notifications) == len(app.screen.query("Toast")) == before + 2
        # A held key: its repeats queue before the first notice is shown, and each posted one
        # more (the notice was looked for among those shown when p asked for it).
        for _ in range(5):
            app.post_message(events.Key("p", "p"))
        await pilot.pause(0.05)
        assert len(app._notifications) == len(app.screen.query("Toast")) == before + 2


async def test_s_again_while_paused_says_there_is_nothing_new(held_trainer: FakeTrainer) -> None:
    """Nothing changes while paused, so the trainer skips a second save there without an
    event: s s showed two "Checkpoint requested" notices and one save in the log."""
    app = live_app(held_trainer)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.state.step == 100)
        await pilot.press("p")
        assert await until(pilot, lambda: "paused at step 100" in log_text(app))
        await pilot.press("s")
        assert await until(pilot, lambda: "saved manual checkpoint" in log_text(app))
        await pilot.press("s")
        assert held_trainer.calls.count("request_save") == 1
        messages = [n.message for n in app._notifications]
        assert "Nothing new to save: last.pt holds step 100, where it is paused." in messages
        await pilot.press("p")  # running again: the next save has something new
        assert await until(pilot, lambda: "running at step 100" in log_text(app))
        await pilot.press("s")
        assert held_trainer.calls.count("request_save") == 2


class GatedTrainer(FakeTrainer):
    """Emits its events up to `gate_at`, waits for `gate`, then emits the rest and finishes."""

    def __init__(self, events, gate_at: int) -> None:
        super().__init__(events)
        self.gate_at = gate_at
        self.gate = threading.Event()

    def run(self) -> int:
        self.state = "running"
        for index, event in enumerate(self.events):
            if index == self.gate_at:
                self.gate.wait(60)
            self.emit(event)
        self.state = "finished"
        return 0


async def test_the_quit_question_goes_when_the_run_ends_under_it() -> None:
    """q pressed as the last epoch ends: "Stop training and quit?" stayed up over a finished
    run, beside "Training ended. Press q to leave."; there is nothing left to stop."""
    events = scripted_events()
    trainer = GatedTrainer(events, gate_at=len(events) - 1)  # all but RunFinished
    app = live_app(trainer)
    async with app.run_test(size=WIDE) as pilot:
        assert await until(pilot, lambda: app.state.step == 300)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        trainer.gate.set()
        assert await until(pilot, lambda: app.trainer_exit_code == 0)
        await pilot.pause(0.05)
        assert not isinstance(app.screen, QuitScreen)
        assert app.is_running and "FINISHED" in pane_text(app, "#header")
        await pilot.press("q")
        assert await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


class SteppingTrainer(FakeTrainer):
    """RunStarted, then (once `go` is set) batch boundaries that honour a pause as the
    engine's loop does: `StateChanged("paused")` when it finds itself paused."""

    def __init__(self) -> None:
        super().__init__(scripted_events(finish=False, upto_step=100))
        self.start = threading.Event()
        self.go = threading.Event()
        self.at_boundary = threading.Event()

    def run(self) -> int:
        self.state = "running"
        self._wait(self.start)
        self.emit(self.events[0])  # RunStarted
        self._wait(self.go)
        for event in self.events[1:]:
            self.emit(event)
        while not self._stop.wait(0.01):
            paused = not self._running.is_set()
            if paused != (self.state == "paused"):
                self.state = "paused" if paused else "running"
                self.emit(StateChanged(state=self.state, step=100))
            self.at_boundary.set()
        self.state = "finished"
        return 130

    def _wait(self, gate: threading.Event) -> None:
        while not gate.wait(0.01) and not self._stop.is_set():
            pass


async def test_p_before_the_run_starts_then_again_leaves_header_and_trainer_agreeing() -> None:
    """p toggled the trainer while the header showed what the dashboard believed. p before
    the run's first event showed PAUSED; the run's start then showed RUNNING (the trainer had
    not reached a batch to pause at), and p there, meant as "pause", resumed it: the header said
    PAUSED for ever over a running trainer. p now sets what the header then shows."""
    trainer = SteppingTrainer()
    app = live_app(trainer)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("p")  # before the run's first event: "starting"
        assert app.state.status == "paused"
        trainer.start.set()
        assert await until(pilot, lambda: app.state.started is not None)
        assert app.state.status == "running"  # the start overrides what p showed
        await pilot.press("p")  # "pause", as the header and the footer offer
        assert app.state.status == "paused"
        trainer.go.set()
        assert await until(pilot, lambda: trainer.at_boundary.is_set())
        await pilot.pause(0.2)
        assert trainer.state == "paused"
        assert "PAUSED" in pane_text(app, "#header")
        await pilot.press("p")
        assert await until(pilot, lambda: trainer.state == "running")
        assert "RUNNING" in pane_text(app, "#header")


def test_a_textual_without_the_private_notice_api_only_stacks_notices() -> None:
    """Replacing an identical notice reads App._notifications and calls App._unnotify, which
    Textual does not promise to keep: without them the dashboard must go on, toasts stacking."""
    from types import SimpleNamespace

    from textual.notifications import Notification, Notify

    from cnntui.tui.run_keys import RunKeys

    notice = Notification("Training has finished: nothing to pause.", "", "warning")
    RunKeys._on_notify(SimpleNamespace(), Notify(notice))  # type: ignore[arg-type]
    unnotified = []
    app = SimpleNamespace(
        _notifications=[Notification(notice.message, "", "warning")],
        _unnotify=lambda shown, refresh: unnotified.append(shown),
    )
    RunKeys._on_notify(app, Notify(notice))  # type: ignore[arg-type]
    assert unnotified == app._notifications
