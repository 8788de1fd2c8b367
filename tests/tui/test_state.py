"""RunState folds events into what the panes show; no Textual involved."""

from __future__ import annotations

import json

import pytest
from scripted_run import T0, failing_events, lenet_shapes, run_started, scripted_events

from cnntui.engine.events import (
    CheckpointSaved,
    Heartbeat,
    LayerHealth,
    LayerStat,
    LogMessage,
    RunFinished,
    RunStarted,
    StateChanged,
    StepMetrics,
    event_from_dict,
)
from cnntui.runlog import event_to_json
from cnntui.tui.layer_health import as_float, layer_condition, rows_from_shapes
from cnntui.tui.state import RunState


def test_a_whole_run_folds_into_the_panes() -> None:
    state = RunState()
    state.apply(scripted_events())
    assert state.status == "finished"
    assert state.step == 300 and state.total_steps == 300
    assert state.progress == 1.0
    assert state.eta is None
    assert len(state.loss) == 300  # every per-step loss, not just the window means
    assert len(state.train_accuracy) == 30
    assert state.epochs.steps == [100, 200, 300]
    assert state.best_accuracy == 0.79
    assert state.evaluation is not None and state.evaluation.split == "val"
    assert state.device is not None and state.device.cpu_percent == 185.0
    assert [row.name for row in state.layers] == [str(i) for i in range(12)]
    assert state.layers[0].stat is not None and state.layers[0].condition == "ok"
    texts = [line.text for line in state.log]
    assert any(t.startswith("epoch 3/3") for t in texts)
    assert any("saved best checkpoint best.pt" in t for t in texts)
    assert texts[-1].startswith("finished at step 300")


def test_changed_panes_are_only_those_an_event_touches() -> None:
    state = RunState()
    assert state.apply([run_started()]) == {
        "header",
        "layers",
        "loss",
        "accuracy",
        "device",
        "throughput",
        "log",
        "confusion",
    }
    step = next(e for e in scripted_events() if isinstance(e, StepMetrics))
    assert state.apply([step]) == {"header", "throughput", "loss", "accuracy"}
    assert state.apply([]) == set()


def test_eta_and_throughput_while_running() -> None:
    state = RunState()
    state.apply(scripted_events(finish=False, upto_step=100))
    assert state.status == "running"
    assert state.eta is not None and state.eta > 0
    assert state.steps_per_sec and state.examples_per_sec
    # The windows' examples over the windows' seconds (each window of 10 steps at its rate).
    windows = [e for e in scripted_events(finish=False, upto_step=100) if e.kind == "step"]
    seconds = sum(10 / w.steps_per_sec for w in windows)
    examples = sum(10 / w.steps_per_sec * w.examples_per_sec for w in windows)
    assert state.average_examples_per_sec == pytest.approx(examples / seconds)
    assert len(state.examples_per_sec_history) == 10


def _windows(state: RunState, step: int, steps_per_sec: float, seconds: float) -> int:
    """Feed `seconds` of 1-second training windows at `steps_per_sec`; the step reached."""
    for _ in range(int(seconds)):
        step += int(steps_per_sec)
        state.apply(
            [StepMetrics(step=step, epoch=0, epoch_step=step, loss=1.0, accuracy=0.5, lr=0.1,
                         examples_per_sec=steps_per_sec * 256, steps_per_sec=steps_per_sec,
                         data_wait=0.0, examples=step * 256, elapsed=0.0)]
        )  # fmt: skip
    return step


def test_eta_does_not_jump_with_one_slow_window_and_follows_a_lasting_change() -> None:
    """The ETA read the latest ~100 ms window's rate: on a busy machine it went from 1:07:46
    to 9:55 and back within seconds. It now reads the last half minute of training."""
    state = RunState()
    state.apply([run_started(epochs=1, steps_per_epoch=100_000)])
    step = _windows(state, 0, steps_per_sec=100, seconds=60)
    steady = state.eta
    assert steady == pytest.approx((100_000 - step) / 100)
    step = _windows(state, step, steps_per_sec=10, seconds=1)  # one hiccup: a tenth the speed
    assert state.steps_per_sec == 10  # the throughput pane shows the hiccup as it is
    assert state.eta == pytest.approx(steady, rel=0.05)
    _windows(state, step, steps_per_sec=50, seconds=40)  # a lasting halving of the speed
    assert state.eta == pytest.approx((100_000 - state.step) / 50, rel=0.01)


def test_vanishing_gradient_is_flagged_and_logged_once() -> None:
    state = RunState()
    events = scripted_events(finish=False, upto_step=100)
    state.apply(events)
    assert state.layers[0].condition == "vanishing"
    warnings = [line for line in state.log if line.level == "warning"]
    assert len(warnings) == 1 and "layer 0 (Conv2d): gradient vanishing" in warnings[0].text


def test_layer_conditions() -> None:
    assert layer_condition(None) == ""
    assert layer_condition(LayerStat("a", grad_norm=0.1)) == "ok"
    assert layer_condition(LayerStat("a", grad_norm=1e-9)) == "vanishing"
    assert layer_condition(LayerStat("a", grad_norm=5e3)) == "exploding"
    assert layer_condition(LayerStat("a", grad_norm=float("inf"))) == "exploding"
    assert layer_condition(LayerStat("a", grad_norm="nan")) == "exploding"  # type: ignore[arg-type]
    assert layer_condition(LayerStat("a", act_std=float("nan"))) == "exploding"
    assert layer_condition(LayerStat("a", act_mean=0.1, dead_fraction=0.7)) == "dead"
    assert layer_condition(LayerStat("a", act_mean=0.1, dead_fraction=0.2)) == "ok"


def test_replayed_non_finite_values_come_back_as_floats() -> None:
    """events.jsonl stores NaN as "nan": the state must read it, warn, and keep going."""
    state = RunState()
    events = [
        run_started(),
        StepMetrics(
            step=2,
            epoch=0,
            epoch_step=2,
            loss=float("nan"),
            accuracy=0.1,
            lr=0.1,
            examples_per_sec=10.0,
            steps_per_sec=1.0,
            data_wait=0.0,
            examples=512,
            elapsed=2.0,
            losses=[2.3, float("nan")],
            time=1.0,
        ),
        LayerHealth(step=2, layers=[LayerStat("3", grad_norm=float("inf"))], time=1.0),
    ]
    replayed = [event_from_dict(json.loads(event_to_json(e))) for e in events]
    assert replayed[1].losses[1] == "nan"  # what the file really holds
    state.apply(replayed)
    assert len(state.loss) == 1 and state.loss.nonfinite == 1
    assert state.layers[3].condition == "exploding"
    warnings = [line.text for line in state.log if line.level == "warning"]
    assert "non-finite training loss at step 2" in warnings
    assert any("layer 3 (Conv2d): gradient exploding" in w for w in warnings)
    assert as_float("inf") == float("inf") and as_float("x") is None and as_float(None) is None


def test_failure_shows_error_and_traceback() -> None:
    state = RunState()
    state.apply(failing_events())
    assert state.status == "failed" and not state.active
    assert state.failure is not None and "CUDA out of memory" in state.failure.error
    errors = [line.text for line in state.log if line.level == "error"]
    assert errors[0].startswith("failed at step 50: OutOfMemoryError")
    assert errors[-1] == "torch.OutOfMemoryError: CUDA out of memory."


def test_state_changes_update_status_and_log() -> None:
    state = RunState()
    state.apply([run_started()])
    # The throughput pane too: it says "paused" instead of the last window's rate.
    assert state.apply([StateChanged(state="paused", step=7)]) == {"header", "throughput", "log"}
    assert state.status == "paused" and state.log[-1].text == "paused at step 7"
    assert state.apply([StateChanged(state="paused", step=7)]) == set()


def test_log_lines_are_timed_by_their_events_not_the_last_step() -> None:
    """No step comes during a pause or an evaluation, so the run's elapsed time stands still:
    the time since the last step, by the events' own clock, is added to it."""
    state = stepped_at_22_seconds()
    state.apply([StateChanged(state="paused", step=10, time=T0 + 23.0)])
    state.apply([StateChanged(state="running", step=10, time=T0 + 48.5)])  # 25.5 s paused
    state.apply([LogMessage(level="info", message="resumed a while ago", time=T0 + 50.5)])
    times = {line.text: line.elapsed for line in state.log}
    assert times["paused at step 10"] == pytest.approx(22.5)
    assert times["running at step 10"] == pytest.approx(48.0)
    assert times["resumed a while ago"] == pytest.approx(50.0)
    assert state.elapsed == 22.0  # the steps' own figure moves with the steps only
    state.note("warning", "a note of the dashboard's own")  # no event: the run's last time
    assert state.log[-1].elapsed == 22.0


def test_the_header_time_is_the_runs_clock_at_its_latest_event() -> None:
    """It was the last step's elapsed time: through a pause it stood below the log's lines."""
    state = stepped_at_22_seconds()
    assert state.run_time == 22.0
    state.apply([StateChanged(state="paused", step=10, time=T0 + 23.0)])
    assert state.run_time == pytest.approx(22.5) == state.log[-1].elapsed
    state.apply([LogMessage(level="info", message="saved while paused", time=T0 + 40.5)])
    assert state.run_time == pytest.approx(40.0) == state.log[-1].elapsed
    state.apply([StateChanged(state="running", step=10, time=T0 + 48.5)])
    assert state.run_time == pytest.approx(48.0) == state.log[-1].elapsed
    state.note("warning", "a note of the dashboard's own")  # no event: no time of its own
    assert state.run_time == pytest.approx(48.0)
    # A finished run's is its clock at its end too, not its `duration`: the process's time,
    # which also counts what came before the run's clock started (here 5 s).
    finished = RunFinished(
        status="finished", exit_code=0, step=10, epoch=0, duration=55.0, time=T0 + 50.5
    )
    state.apply([finished])
    assert state.run_time == pytest.approx(50.0) == state.log[-1].elapsed
    assert state.log[-1].text.startswith("finished at step 10 after 0:50")
    state.note("warning", "a note of the dashboard's own")  # the run's end, its last time
    assert state.log[-1].elapsed == pytest.approx(50.0)
    # A resumed run's clock counts from its resume.
    state.apply([RunStarted(**{**run_started().__dict__, "start_step": 10, "time": T0 + 500.0})])
    assert state.run_time == 0.0


def test_a_heartbeat_moves_only_the_runs_clock() -> None:
    """A paused run's heartbeat says it is still there: the header's time moves to it (a live
    dashboard's clock, anchored at the latest event's time, stood still until it came), and
    nothing is logged."""
    state = stepped_at_22_seconds()
    state.apply([StateChanged(state="paused", step=10, heartbeat_every=30.0, time=T0 + 23.0)])
    assert state.heartbeat_every == 30.0
    lines = state.log_total
    assert state.apply([Heartbeat(step=10, time=T0 + 53.0)]) == {"header"}
    assert state.run_time == pytest.approx(52.5)
    assert state.log_total == lines and state.status == "paused"
    state.apply([StateChanged(state="running", step=10, time=T0 + 60.0)])
    assert state.heartbeat_every is None


def test_a_phase_is_timed_from_its_first_heartbeat_on_the_runs_clock() -> None:
    """The header says how long a long phase has lasted (`evaluating the test set (1:05)`),
    a deadlocked one included: from the heartbeat that began it, through those that say it
    goes on, on the run's clock, so that a replayed log times it as the live run did."""
    state = stepped_at_22_seconds()  # the run's clock: 22.0 at T0 + 22.5

    def beat(phase: str, at: float) -> Heartbeat:
        return Heartbeat(step=10, phase=phase, time=T0 + at)

    state.apply([beat("evaluating test", 30.0)])  # began at 29.5 on the run's clock
    assert state.busy_for(state.run_time) is None  # a phase of a few seconds is not timed
    assert state.busy_for(29.5 + 4.0) is None
    assert state.busy_for(29.5 + 6.0) == pytest.approx(6.0)  # a live clock between events
    note = LogMessage(level="warning", message="slow", time=T0 + 45.0)
    state.apply([beat("evaluating test", 40.0), note, beat("evaluating test", 50.0)])
    assert state.busy_for(state.run_time) == pytest.approx(20.0)  # 49.5: from 29.5 still
    # The next phase has its own time (a failed compile's fallback to an eager first step).
    state.apply([beat("saving best.pt", 55.0)])
    assert state.busy_for(state.run_time + 7.0) == pytest.approx(7.0)
    # An event ends it; the same phase again is timed anew.
    state.apply([CheckpointSaved(step=10, path="best.pt", reason="best", time=T0 + 60.0)])
    assert state.phase_since is None and state.busy_for(100.0) is None
    state.apply([beat("saving best.pt", 70.0)])
    assert state.busy_for(state.run_time + 5.0) == pytest.approx(5.0)
    # Training and a pause are not phases the header times.
    state.apply([beat("training", 80.0)])
    assert state.busy_for(state.run_time + 60.0) is None


def test_a_runs_quiet_is_taken_for_death_past_its_heartbeat_period() -> None:
    """watch's threshold: a run that beats through its long phases (an evaluation, a save, a
    pause) is given its period and the allowance; an older log keeps what it was given."""
    state = stepped_at_22_seconds()
    assert state.quiet_after(15.0) == 15.0  # a log from before heartbeats, training
    state.apply([StateChanged(state="paused", step=10, time=T0 + 23.0)])
    assert state.quiet_after(15.0) is None  # it wrote nothing until it resumed
    for status in ("running", "paused", "stopping"):
        state.apply([StateChanged(state=status, step=10, heartbeat_every=10.0, time=T0 + 24.0)])
        assert state.quiet_after(15.0) == 25.0, status
    # A log of a cnntui that beat while paused only: its running event promises nothing.
    state.apply([StateChanged(state="running", step=10, time=T0 + 25.0)])
    assert state.quiet_after(15.0) == 15.0
    finished = RunFinished(
        status="finished", exit_code=0, step=10, epoch=0, duration=30.0, time=T0 + 30.0
    )
    state.apply([finished])
    assert state.quiet_after(15.0) is None


def test_a_failed_runs_header_time_is_its_failures() -> None:
    state = RunState()
    state.apply(failing_events())
    assert state.run_time == pytest.approx(state.log[-1].elapsed) == pytest.approx(3.0)


def test_an_event_that_fails_to_fold_does_not_time_the_notes_after_it(monkeypatch) -> None:
    state = stepped_at_22_seconds()

    def broken(event: LogMessage) -> set[str]:
        raise ValueError("a handler's bug")

    monkeypatch.setattr(state, "_on_log", broken)
    with pytest.raises(ValueError):
        state.apply([LogMessage(level="info", message="never folded", time=T0 + 60.0)])
    state.note("warning", "a note of the dashboard's own")  # the run's last time, not 0:59
    assert state.log[-1].elapsed == 22.0


def stepped_at_22_seconds() -> RunState:
    """A run started at T0 whose step 10 came 22 s into training, written at T0 + 22.5."""
    state = RunState()
    step = StepMetrics(
        step=10, epoch=0, epoch_step=10, loss=2.0, accuracy=0.1, lr=0.9, examples_per_sec=2560.0,
        steps_per_sec=10.0, data_wait=0.0, examples=2560, elapsed=22.0, time=T0 + 22.5,
    )  # fmt: skip
    state.apply([run_started(), step])
    return state


def test_rows_from_shapes_takes_leaf_layers_and_tolerates_gaps() -> None:
    rows = rows_from_shapes(lenet_shapes())
    assert rows[0].name == "0" and rows[0].type == "Conv2d"
    assert rows[0].output_shape == "6×28×28" and rows[0].params == 156
    assert len(rows) == 12  # the model's own row ("") is not a layer
    assert rows_from_shapes(None) == []
    assert rows_from_shapes({"rows": [{"name": "x"}, "junk", {"name": ""}]})[0].name == "x"
    odd = rows_from_shapes({"rows": [{"name": "c", "params": "many", "output_shapes": []}]})
    assert odd[0].params is None and odd[0].output_shape == ""


def test_health_for_layers_the_report_lacks_adds_rows() -> None:
    state = RunState()
    started = run_started()
    started.shapes = None
    state.apply([started, LayerHealth(step=1, layers=[LayerStat("features.0", grad_norm=1.0)])])
    assert [row.name for row in state.layers] == ["features.0"]


def test_a_second_run_in_the_stream_starts_fresh() -> None:
    state = RunState()
    state.apply(scripted_events())
    second = RunStarted(**{**run_started().__dict__, "run_name": "again"})
    state.apply([second])
    assert state.started is second and state.status == "running"
    assert len(state.loss) == 0 and state.evaluation is None and state.log_total == 1


def test_numbers_fit_narrow_columns() -> None:
    from cnntui.tui import format as fmt

    assert fmt.metric(2e-4) == "2.0e-4"
    assert fmt.metric(-1.8e-5) == "-1.8e-5"
    assert fmt.metric(3.2e6) == "3.2e6"
    assert fmt.metric(0.012345) == "0.01235"
    assert fmt.metric(float("nan")) == "nan" and fmt.metric(None) == "–"
    assert fmt.duration(3725) == "1:02:05" and fmt.duration(65) == "1:05"
    assert fmt.duration(None) == "–"
    assert fmt.size_bytes(1.5 * 1024**3) == "1.5 GiB" and fmt.size_bytes(12) == "12 B"
    assert fmt.rate(12345.6) == "12,346" and fmt.rate(2.5e6) == "2.50M" and fmt.rate(7.25) == "7.2"
    assert fmt.percent(0.912) == "91.2%" and fmt.percent(None) == "–"


def test_the_average_rate_leaves_out_pauses_and_evaluations() -> None:
    started, *_ = scripted_events(upto_step=10)
    state = RunState()
    state.apply([started])

    def window(step: int, rate: float, elapsed: float) -> StepMetrics:
        return StepMetrics(
            step=step, epoch=0, epoch_step=step, loss=1.0, accuracy=0.5, lr=0.1,
            examples_per_sec=rate, steps_per_sec=rate / 256, data_wait=0.0,
            examples=step * 256, elapsed=elapsed,
        )  # fmt: skip

    # 10 steps at 2,560 ex/s (1 s), a 60 s pause, 10 steps at 1,280 ex/s (2 s).
    state.apply([window(10, 2560.0, 1.0), window(20, 1280.0, 63.0)])
    assert state.average_examples_per_sec == pytest.approx(20 * 256 / 3.0)


def test_a_resumed_run_goes_on_from_its_earlier_sessions() -> None:
    state = RunState()
    first = scripted_events(finish=False, upto_step=150)
    state.apply(first)
    state.apply([RunFinished(status="interrupted", exit_code=130, step=150, epoch=1, duration=9.0)])
    points = len(state.loss)
    resumed = RunStarted(**{**run_started().__dict__, "start_step": 150})
    later = [
        e for e in scripted_events() if e.kind != "run_started" and getattr(e, "step", 0) > 150
    ]
    state.apply([resumed, *later])
    assert state.status == "finished" and state.step == 300
    assert len(state.loss) > points  # the first session's points are still there
    assert state.loss.view(1000).xs[0] <= 10  # from the first window of the first session


def test_the_started_line_says_a_batch_larger_than_the_training_set_as_the_step_it_is() -> None:
    """`batch 100000` of 4,000 examples read as if a step took 100,000; the headless line was
    mended (wording.batch_words) and the dashboard's log kept the old words."""
    state = RunState()
    larger = {**run_started().__dict__, "batch_size": 100_000, "data": {"train_examples": 4000}}
    state.apply([RunStarted(**larger)])
    started = state.log[-1].text
    assert "batch 4,000 (the whole training set: batch size 100,000 is larger)" in started
    state = RunState()
    state.apply([RunStarted(**{**larger, "batch_size": 256})])
    assert ", batch 256, " in state.log[-1].text
