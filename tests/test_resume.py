"""A stopped and resumed run reports and trains as the run would have without the stop.

Most runs here have a ragged last batch (1,000 images in batches of 64: 15 of 64 and one of 40)
and read their metrics after every step, so the cases where a window, an epoch and a request
meet at the same step are all reached.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from cnntui.engine.checkpoint import load_checkpoint
from cnntui.engine.events import (
    EpochSummary,
    Event,
    LayerHealth,
    RunFinished,
    RunStarted,
    StepMetrics,
)
from cnntui.engine.resume import check_resume_overrides
from cnntui.engine.trainer import Trainer
from cnntui.errors import UsageError
from cnntui.headless import finished_line

STEPS_PER_EPOCH = 16


@pytest.fixture
def ragged_config(tiny_config):
    return dataclasses.replace(
        tiny_config,
        dataset="synthetic:1x28x28:10:train=1000:test=200",
        log_interval=1e-9,  # a window per step
        health_every=0,
        deterministic=True,
        channels_last=False,
    )


def train(config, at_step=None, request="stop", **kwargs) -> tuple[int, list[Event]]:
    """Run to the end; with `at_step`, make a request (as the dashboard's keys do) once, when
    the metrics of that step (or, read in a longer window, a later one) arrive."""
    events: list[Event] = []
    trainer = Trainer(config, subscribers=[events.append], **kwargs)
    requested = False

    def request_at(event: Event) -> None:
        nonlocal requested
        if isinstance(event, StepMetrics) and event.step >= at_step and not requested:
            requested = True
            getattr(trainer, f"request_{request}")()

    if at_step is not None:
        trainer.subscribe(request_at)
    return trainer.run(), events


def epochs_of(events: list[Event]) -> list[EpochSummary]:
    return [e for e in events if isinstance(e, EpochSummary)]


def summary_of(config) -> dict:
    return json.loads((Path(config.run_dir) / "summary.json").read_text())


def assert_same_weights(run_dir: Path, expected_run_dir: Path) -> None:
    final = load_checkpoint(run_dir / "last.pt")["model"]
    expected = load_checkpoint(expected_run_dir / "last.pt")["model"]
    for key in expected:
        torch.testing.assert_close(final[key], expected[key], rtol=0, atol=0)


def with_dir(config, tmp_path: Path, name: str):
    return dataclasses.replace(config, run_dir=str(tmp_path / name))


def test_the_epoch_loss_weighs_each_example_once_however_steps_are_grouped(ragged_config, tmp_path):
    per_step = epochs_of(train(ragged_config)[1])
    one_window_config = dataclasses.replace(ragged_config, log_interval=3600.0)
    one_window = epochs_of(train(with_dir(one_window_config, tmp_path, "one-window"))[1])
    assert [e.train_loss for e in per_step] == pytest.approx(
        [e.train_loss for e in one_window], rel=1e-6
    )


@pytest.mark.parametrize("stop_at", [20, STEPS_PER_EPOCH], ids=["mid-epoch", "epoch's last"])
def test_a_resumed_epoch_reports_the_whole_epoch(ragged_config, tmp_path, stop_at) -> None:
    """Stopped on an epoch's last batch, the epoch has not ended yet (no evaluation): the
    resumed run ends it, with the sums of the batches before the stop."""
    straight = epochs_of(train(with_dir(ragged_config, tmp_path, "straight"))[1])
    cut = with_dir(ragged_config, tmp_path, "cut")
    assert train(cut, at_step=stop_at)[0] == 130
    code, events = train(cut, resume_from=Path(cut.run_dir))
    assert code == 0
    resumed = epochs_of(events)
    assert resumed[0].epoch == (stop_at - 1) // STEPS_PER_EPOCH
    assert resumed[0].train_loss == pytest.approx(straight[resumed[0].epoch].train_loss, rel=1e-6)
    assert resumed[0].train_accuracy == straight[resumed[0].epoch].train_accuracy
    assert resumed[0].test_accuracy == straight[resumed[0].epoch].test_accuracy
    assert resumed[0].examples_per_sec < 1e6  # the epoch's time before the stop is counted
    summary = summary_of(cut)
    assert [e["epoch"] for e in summary["epochs"]] == [0, 1]
    assert summary["epochs_completed"] == 2


def test_a_save_on_an_epochs_last_batch_does_not_stand_in_for_the_epochs_end(
    ragged_config,
) -> None:
    """A manual save at the run's last step comes before the epoch's evaluation; last.pt must
    still be written after it, saying the run is done."""
    assert train(ragged_config, at_step=2 * STEPS_PER_EPOCH, request="save")[0] == 0
    state = load_checkpoint(Path(ragged_config.run_dir) / "last.pt")
    summary = summary_of(ragged_config)
    assert (state["step"], state["epoch"], state["epoch_batch"]) == (32, 2, 0)
    assert state["best_accuracy"] == summary["best_accuracy"]


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ({"epochs": 1}, r"already trained its 1 epoch \(16 steps\); add --epochs N with N over 1"),
        ({"max_steps": 5}, r"already reached its max_steps \(5 steps\); add --max-steps N"),
    ],
)
def test_resuming_a_finished_run_as_it_was_is_refused_and_leaves_it_alone(
    ragged_config, limit, message
) -> None:
    config = dataclasses.replace(ragged_config, **limit)
    assert train(config)[0] == 0
    run_dir = Path(config.run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    with pytest.raises(UsageError, match=message):
        Trainer(config, resume_from=run_dir).setup()
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_a_resumed_runs_summary_counts_the_whole_run(ragged_config) -> None:
    config = dataclasses.replace(ragged_config, epochs=1)
    assert train(config)[0] == 0
    first = summary_of(config)
    resumed = train(config, resume_from=Path(config.run_dir), resume_overrides={"epochs": 2})
    assert resumed[0] == 0
    summary = summary_of(config)
    assert (summary["steps"], summary["examples"]) == (32, 2000)
    assert summary["train_seconds"] > first["train_seconds"]
    assert [e["epoch"] for e in summary["epochs"]] == [0, 1]
    # The closing line's time is this process's; its step count goes with it.
    finished = resumed[1][-1]
    assert isinstance(finished, RunFinished) and finished.start_step == 16
    assert finished_line(finished).startswith("finished at step 32, 16 steps in ")


def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(tiny_config, tmp_path) -> None:
    config = dataclasses.replace(
        tiny_config, augment=True, model_options={"activation": "relu", "pool": "max"}
    )
    cut_config = with_dir(config, tmp_path, "cut")
    assert train(cut_config, at_step=21)[0] == 130  # mid-way through the second epoch
    cut = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert 21 <= cut["step"] < 32 and cut["epoch_batch"] > 0
    # The memory layout was chosen by timing and recorded in the run's config; the resumed run
    # must reuse it, and the uninterrupted run for comparison is given the same one.
    layout = cut["config"]["channels_last"]
    assert layout in (True, False)

    code, events = train(cut_config, resume_from=tmp_path / "cut")
    assert code == 0
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.start_step == cut["step"]
    assert started.config["channels_last"] is layout
    train(dataclasses.replace(with_dir(config, tmp_path, "straight"), channels_last=layout))
    assert_same_weights(tmp_path / "cut", tmp_path / "straight")


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_a_resumed_schedule_ends_with_the_weights_of_an_uninterrupted_run(
    ragged_config, tmp_path, schedule
) -> None:
    config = dataclasses.replace(ragged_config, schedule=schedule, warmup_epochs=0.5)
    train(with_dir(config, tmp_path, "straight"))
    cut = with_dir(config, tmp_path, "cut")
    assert train(cut, at_step=21)[0] == 130
    assert train(cut, resume_from=Path(cut.run_dir))[0] == 0
    assert_same_weights(tmp_path / "cut", tmp_path / "straight")


def test_a_learning_rate_given_when_resuming_is_the_one_used(ragged_config) -> None:
    config = dataclasses.replace(ragged_config, epochs=1)
    assert train(config)[0] == 0
    code, events = train(
        config, resume_from=Path(config.run_dir), resume_overrides={"epochs": 2, "lr": 0.001}
    )
    assert code == 0
    assert {e.lr for e in events if isinstance(e, StepMetrics)} == {0.001}


def test_more_epochs_of_a_one_cycle_run_stretch_its_schedule(ragged_config) -> None:
    config = dataclasses.replace(ragged_config, epochs=1, schedule="onecycle")
    assert train(config)[0] == 0
    code, events = train(config, resume_from=Path(config.run_dir), resume_overrides={"epochs": 2})
    assert code == 0, [e for e in events if e.kind == "failed"]
    rates = [e.lr for e in events if isinstance(e, StepMetrics)]
    assert len(rates) == STEPS_PER_EPOCH and rates[-1] < rates[0]  # the second half's descent


@pytest.mark.parametrize(
    ("key", "value", "typed"),
    [
        ("batch_size", 32, "--batch-size"),
        ("seed", 1, "--seed"),
        ("dataset", "synthetic:1x28x28:10", "--dataset"),
        ("model_options", {"activation": "sigmoid", "pool": "avg"}, "--opt"),
    ],
)
def test_what_the_run_is_cannot_change_when_resuming(ragged_config, key, value, typed) -> None:
    config = dataclasses.replace(ragged_config, epochs=1, max_steps=3)
    assert train(config)[0] == 0
    resumed = Trainer(config, resume_from=Path(config.run_dir), resume_overrides={key: value})
    with pytest.raises(UsageError, match=rf"^{typed} cannot change when resuming"):
        resumed.setup()


def test_an_opt_that_agrees_with_the_runs_options_is_no_change() -> None:
    """-o adds to the options it is given with, key by key (8333ef4): `--resume run -o
    pool=max` for a run of activation=relu, pool=max was refused as a change to both."""
    saved = {"model_options": {"activation": "relu", "pool": "max"}}
    check_resume_overrides(saved, {"model_options": {"pool": "max"}})
    with pytest.raises(UsageError, match=r"^--opt cannot change when resuming"):
        check_resume_overrides(saved, {"model_options": {"pool": "avg"}})
    with pytest.raises(UsageError, match=r"^--opt cannot change when resuming"):
        check_resume_overrides(saved, {"model_options": {"dropout": 0.5}})  # a key it lacks


def test_the_runs_own_data_set_written_otherwise_is_no_change(ragged_config) -> None:
    """`--dataset SYNTHETIC:…` (or `fashion-mnist` for fmnist) names the run's own data set;
    the string was compared, and the resume refused as if it changed the data set."""
    config = dataclasses.replace(ragged_config, epochs=1, max_steps=3)
    assert train(config)[0] == 0
    name, _, shape = config.dataset.partition(":")
    typed = {"dataset": f"{name.upper()}:{shape}", "max_steps": 4}
    code, events = train(config, resume_from=Path(config.run_dir), resume_overrides=typed)
    assert code == 0, [e for e in events if e.kind == "failed"]
    # The run keeps its own name for it, which later resumes compare with.
    assert load_checkpoint(Path(config.run_dir) / "last.pt")["config"]["dataset"] == config.dataset


def test_health_under_torch_compile_uses_the_layer_tables_names(tiny_config, monkeypatch):
    class Compiled(torch.nn.Module):  # what matters of torch.compile's wrapper: `_orig_mod`
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self._orig_mod = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self._orig_mod(x)

    monkeypatch.setattr(torch, "compile", Compiled)
    config = dataclasses.replace(tiny_config, compile=True, epochs=1, health_every=1)
    code, events = train(config)
    assert code == 0
    started = next(e for e in events if isinstance(e, RunStarted))
    table = {row["name"] for row in started.shapes["rows"]}
    sampled = {layer.name for e in events if isinstance(e, LayerHealth) for layer in e.layers}
    assert sampled and sampled <= table


def test_a_resumed_run_stays_in_its_own_directory(ragged_config, tmp_path) -> None:
    config = dataclasses.replace(ragged_config, epochs=1, max_steps=3)
    assert train(config)[0] == 0
    elsewhere = {"epochs": 2, "run_dir": str(tmp_path / "elsewhere")}
    resumed = Trainer(config, resume_from=Path(config.run_dir), resume_overrides=elsewhere)
    with pytest.raises(UsageError, match=r"^--run-dir: a resumed run goes on in its own directory"):
        resumed.setup()
    assert not (tmp_path / "elsewhere").exists()


def test_an_opt_that_names_the_models_own_default_is_no_change() -> None:
    """`--resume run -o activation=sigmoid` for a run of LeNet as d2l wrote it (sigmoid is
    lenet's default, so the run saved no options) was refused as a change."""
    saved = {"model": "lenet", "model_options": {}}
    check_resume_overrides(saved, {"model_options": {"activation": "sigmoid"}})
    check_resume_overrides(saved, {"model_options": {"activation": "sigmoid", "pool": "avg"}})
    with pytest.raises(UsageError, match=r"^--opt cannot change when resuming"):
        check_resume_overrides(saved, {"model_options": {"activation": "relu"}})
    # A user's model: its defaults are not read, so naming one is a change.
    user = {"model": "nets.py:Net", "model_options": {}}
    with pytest.raises(UsageError, match=r"^--opt cannot change when resuming"):
        check_resume_overrides(user, {"model_options": {"width": 8}})
