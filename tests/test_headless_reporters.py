"""The headless reporters on scripted events: what a terminal, a pipe and a script each get."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from cnntui.engine.events import EpochSummary, LogMessage, RunFinished, RunStarted, StepMetrics
from cnntui.errors import UsageError
from cnntui.headless import (
    JsonReporter,
    PlainReporter,
    RichReporter,
    failed_line_on_error,
    finished_line,
    make_reporter,
)


def started() -> RunStarted:
    return RunStarted(
        run_name="r", run_dir="runs/r", model="lenet", dataset="fmnist", device="cpu",
        device_name="x86_64", epochs=2, steps_per_epoch=10, batch_size=256, num_params=61_706,
        classes=[str(i) for i in range(10)], config={}, time=1.0,
    )  # fmt: skip


def step(i: int) -> StepMetrics:
    return StepMetrics(
        step=i, epoch=0, epoch_step=i, loss=1.5, accuracy=0.5, lr=0.9, examples_per_sec=9000.0,
        steps_per_sec=35.0, data_wait=0.01, examples=256 * i, elapsed=float(i), time=2.0,
    )  # fmt: skip


def events() -> list:
    return [
        started(),
        *[step(i) for i in range(1, 11)],
        EpochSummary(epoch=0, step=10, train_loss=1.5, train_accuracy=0.5, test_loss=1.2,
                     test_accuracy=0.6, examples_per_sec=9000.0, duration=0.3, best=True),
        RunFinished(status="finished", exit_code=0, step=10, epoch=1, duration=1.0,
                    best_accuracy=0.6),
    ]  # fmt: skip


def test_rich_reporter_draws_a_bar_and_keeps_the_epoch_lines() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    reporter = RichReporter(console)
    for event in events():
        reporter(event)
    text = out.getvalue()
    assert "/10 loss 1.5000 acc 50.00% 9,000 ex/s" in text  # the live bar was drawn
    assert "epoch 1/2 | train loss 1.5000 acc 50.00% | test loss 1.2000 acc 60.00%" in text
    assert "finished after 10 steps" in text


def test_plain_reporter_rate_limits_progress_but_not_summaries(monkeypatch) -> None:
    # time.monotonic() counts from boot: on a machine up for less than the interval, the first
    # progress line must still be written.
    monkeypatch.setattr("cnntui.headless.time.monotonic", lambda: 5.0)
    out = io.StringIO()
    reporter = PlainReporter(out, interval=3600)
    for event in events():
        reporter(event)
    lines = out.getvalue().splitlines()
    assert sum("step" in line and "ex/s lr" in line for line in lines) == 1  # the first only
    assert any(line.startswith("epoch 1/2 |") for line in lines)
    assert lines[-1].startswith("finished after 10 steps")


def test_json_reporter_writes_one_object_per_event() -> None:
    out = io.StringIO()
    reporter = JsonReporter(out)
    for event in events():
        reporter(event)
    kinds = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert kinds[0] == "run_started" and kinds[-1] == "finished" and kinds.count("step") == 10


def test_make_reporter_picks_plain_lines_for_a_pipe() -> None:
    assert type(make_reporter(json_output=False, stream=io.StringIO())) is PlainReporter
    assert type(make_reporter(json_output=True, stream=io.StringIO())) is JsonReporter


@pytest.mark.parametrize(
    ("error", "code", "has_traceback"),
    [
        (UsageError("--nproc must be at least 1, got 0"), 2, False),
        (OSError("disk on fire"), 1, True),
    ],
)
def test_a_json_run_refused_by_its_first_checks_ends_with_a_failed_line(
    capsys, error: Exception, code: int, has_traceback: bool
) -> None:
    """Whatever stops the first checks of `run --json` (the launcher's included), a cnntui error
    or an unexpected one, the script reading stdout gets the failed line."""
    with pytest.raises(type(error)), failed_line_on_error(json_output=True):
        raise error
    failed = json.loads(capsys.readouterr().out)
    assert (failed["event"], failed["exit_code"]) == ("failed", code)
    assert str(error) in failed["error"]
    assert bool(failed["traceback"]) is has_traceback


def test_the_finished_line_gives_a_best_accuracy_of_zero_and_none_when_unevaluated() -> None:
    # A best of 0.0 (every evaluated example wrong) was left out, as if nothing was evaluated.
    def line(best: float | None) -> str:
        return finished_line(
            RunFinished(
                status="finished", exit_code=0, step=1, epoch=0, duration=0.5, best_accuracy=best
            )
        )

    assert line(0.0) == "finished after 1 step in 0.5s, best accuracy 0.00%"
    assert line(None) == "finished after 1 step in 0.5s"


def test_plain_lines_put_warnings_on_stderr_and_notes_with_the_progress() -> None:
    """`--headless > run.log` hid a warning in the file, among the lines a script parses."""
    out, err = io.StringIO(), io.StringIO()
    reporter = PlainReporter(out, warnings=err)
    reporter(LogMessage(level="info", message="data-parallel on 2 ranks"))
    reporter(LogMessage(level="warning", message="--data-dir /x holds no MNIST"))
    assert out.getvalue() == "info: data-parallel on 2 ranks\n"
    assert err.getvalue() == "cnntui: warning: --data-dir /x holds no MNIST\n"


def test_plain_warnings_go_to_the_stderr_of_the_moment(capsys: pytest.CaptureFixture) -> None:
    PlainReporter(io.StringIO())(LogMessage(level="warning", message="loss blowing up"))
    assert capsys.readouterr().err == "cnntui: warning: loss blowing up\n"


def test_a_closed_stderr_loses_the_warning_not_the_run() -> None:
    err = io.StringIO()
    err.close()
    out = io.StringIO()
    reporter = PlainReporter(out, warnings=err)
    reporter(LogMessage(level="warning", message="lost"))
    reporter(RunFinished(status="finished", exit_code=0, step=1, epoch=1, duration=1.0))
    assert out.getvalue().startswith("finished after 1 step")


def test_the_progress_bar_keeps_warnings_on_its_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    RichReporter(console)(LogMessage(level="warning", message="loss blowing up"))
    assert "warning: loss blowing up" in out.getvalue()


def test_a_batch_larger_than_the_training_set_is_said_as_the_batch_it_is() -> None:
    """--batch-size 100000 on 4,000 examples trains one step of 4,000, not 'of 100000'."""
    out = io.StringIO()
    event = started()
    event.batch_size, event.steps_per_epoch = 100_000, 1
    event.data = {"train_examples": 4000}
    PlainReporter(out)(event)
    first = out.getvalue().splitlines()[0]
    assert first.endswith(
        "2 epochs x 1 step of 4,000 (the whole training set: batch size 100,000 is larger)"
    )
    out = io.StringIO()
    PlainReporter(out)(started())  # a batch that fits, or data of unknown size: as set
    assert out.getvalue().splitlines()[0].endswith("2 epochs x 10 steps of 256")


@pytest.mark.parametrize(
    ("lr", "written"), [(0.9, "lr 0.9"), (1e6, "lr 1.0e6"), (1e-4, "lr 1.0e-4")]
)
def test_the_progress_line_writes_the_lr_as_the_dashboard_does(lr: float, written: str) -> None:
    """`lr 1e+06` beside the dashboard's `lr 1.0e6` and the blow-up warning's `(now 1.0e6)`."""
    out = io.StringIO()
    reporter = PlainReporter(out, interval=0)
    reporter(started())
    reporter(StepMetrics(**{**step(1).__dict__, "lr": lr}))
    assert out.getvalue().splitlines()[-1].endswith(f" {written}")
