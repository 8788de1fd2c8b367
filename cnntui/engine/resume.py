"""Resuming a run: its config with the resuming command line's changes, and its checkpoint
put back so that the run goes on as if it had never stopped."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from cnntui.config import COMMAND_LINE, RunConfig, apply_settings, command_line_name
from cnntui.engine.checkpoint import load_weights, saved_step
from cnntui.engine.optim import optimizer_class
from cnntui.errors import UsageError
from cnntui.wording import plural
from cnntui.zoo import option_defaults
from cnntui.zoo.external import model_file

if TYPE_CHECKING:
    from cnntui.data.datasets import DataSpec
    from cnntui.engine.setup import RunSetup

# What the checkpoint's weights, optimiser state and place in the data were made with: a
# resumed run cannot change them and stay the same run.
FIXED_ON_RESUME = (
    "model",
    "model_options",
    "dataset",
    "resize",
    "normalize",
    "val_split",
    "batch_size",
    "seed",
    "optimizer",
)


def keep_later_last(resume_from: Path, run_dir: Path, step: int) -> str | None:
    """Going on from a checkpoint other than the run's last.pt (best.pt) while last.pt holds a
    later step: this run's first save (the end of the epoch, or any stop) would replace that
    later state, so it is moved aside first, under a name that says its step, and can be
    resumed by that name. What was done, for the log; None when nothing was to keep.

    Called with the run directory held (`RunLogWriter`): a live run's last.pt is never moved."""
    last = run_dir / "last.pt"
    if resume_from.is_dir() or not last.is_file() or last.samefile(resume_from):
        return None
    last_step = saved_step(last)  # None when damaged: the usual reason to resume from best.pt
    if last_step is None or last_step <= step:
        return None
    kept = run_dir / f"last-step{last_step}.pt"
    copy = 1
    while kept.exists():  # kept once already, by an earlier branch from best.pt
        copy += 1
        kept = run_dir / f"last-step{last_step}-{copy}.pt"
    try:
        last.rename(kept)
    except OSError as exc:
        return (
            f"resuming from {resume_from.name} at step {step}: could not keep the later "
            f"{last} (step {last_step}) as {kept.name} ({exc.strerror}); this run's first "
            "save replaces it"
        )
    return (
        f"resuming from {resume_from.name} at step {step}: the later last.pt (step "
        f"{last_step}) is kept as {kept} (--resume it to go back to it)"
    )


# Where a resumed run's settings come from, unless the resuming command line sets them.
SAVED_CONFIG = "the checkpoint's config"


def resumed_config(state: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    """The checkpoint's config, plus only what the user set on the resuming command line."""
    fields = RunConfig.__dataclass_fields__
    saved = {k: v for k, v in state["config"].items() if k in fields}
    check_resume_overrides(_as_read(saved, state), overrides)
    # What cannot change is the run's own, however it was written again (an alias).
    overrides = {k: saved.get(k, v) if k in FIXED_ON_RESUME else v for k, v in overrides.items()}
    config = apply_settings(RunConfig(), saved, SAVED_CONFIG)
    config = apply_settings(config, overrides, COMMAND_LINE).validate(
        SAVED_CONFIG, dict.fromkeys(overrides, COMMAND_LINE)
    )
    check_something_left(state, config)
    check_model_file(config.model, SAVED_CONFIG)
    if "data_dir" not in overrides:
        check_data_dir(config, SAVED_CONFIG)
    return config


def check_model_file(model: str, named_by: str) -> None:
    """The file of a saved run's own model (`path/to/file.py:attr`) is where the run found it.
    Refused as "model file mynet.py does not exist", the user did not know where cnntui had
    looked: a relative path is read from the folder cnntui runs in, not the one the run was
    started in, and a moved file is not found either."""
    if model.startswith("torchvision:") or ":" not in model:
        return
    path = model_file(model.rpartition(":")[0])
    if path is None or path.is_file():
        return
    missing = _looked_for(path) or "; the run needs the file where it was when it trained"
    raise UsageError(f"{named_by} names model {model}, and {path} does not exist{missing}")


def check_data_dir(config: RunConfig, named_by: str) -> None:
    """A saved run's data_dir that is no folder here, said with where it was looked for and
    that --data-dir reads the data from another; "data_dir fm is not a directory" said neither.
    A data set that is generated or names its own folder does not read it, and is let be."""
    from cnntui.data.datasets import parse_data_spec
    from cnntui.data.sources import SOURCES

    data_dir = config.data_dir
    if data_dir is None or Path(data_dir).expanduser().is_dir():
        return
    try:
        if parse_data_spec(config.dataset).name not in SOURCES:
            return
    except UsageError:  # said where the data set is loaded
        return
    path = Path(data_dir).expanduser()
    raise UsageError(
        f"{named_by}: data_dir {data_dir} is not a directory"
        + (f"{_looked_for(path)}, or" if not path.is_absolute() else ";")
        + " give --data-dir DIR to read the data from another folder"
    )


def _looked_for(path: Path) -> str:
    """Where a relative path that a run saved, not found now, was looked for: the current
    folder, which need not be the one the run was started in."""
    if path.is_absolute():
        return ""
    return (
        f" in {Path.cwd()}; a relative path is read from the current folder: run cnntui from "
        "the folder the run was started in"
    )


def check_something_left(state: dict[str, Any], config: RunConfig) -> None:
    """A finished run resumed as it was has nothing to train; saying so beats rewriting its
    summary and last.pt with an empty run."""
    step, epoch = int(state["step"]), int(state["epoch"])
    if epoch >= config.epochs:
        raise UsageError(
            f"the run has already trained its {plural(config.epochs, 'epoch')} "
            f"({plural(step, 'step')}); add "
            f"--epochs N with N over {config.epochs} to train it for longer"
        )
    if config.max_steps is not None and step >= config.max_steps:
        raise UsageError(
            f"the run has already reached its max_steps ({plural(step, 'step')}); add "
            f"--max-steps N with N over {step} to train it for longer, or --set "
            "max_steps=none to train to the end of its epochs"
        )


def _as_read(saved: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The saved settings with the data set the run read: a relative `folder:PATH` as the
    absolute folder its checkpoint records, which a resuming `--dataset` is compared with."""
    if "dataset" not in saved:
        return saved
    from cnntui.data.datasets import saved_data_spec

    return {**saved, "dataset": saved_data_spec(saved["dataset"], state.get("data_source"))}


def check_resume_overrides(saved: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Refuse a resume that would change what the run is; anything else (epochs, learning rate,
    momentum, weight decay, schedule, intervals) applies from the resumed step on."""
    for key in ("run_dir", "runs_root"):
        if overrides.get(key):
            flag = command_line_name(key)
            raise UsageError(
                f"{flag}: a resumed run goes on in its own directory; leave {flag} out "
                "(or start a new run there)"
            )
    for key in FIXED_ON_RESUME:
        if (
            key in overrides
            and key in saved
            and not _same(key, overrides[key], saved[key], saved.get("model"))
        ):
            raise UsageError(
                f"{command_line_name(key)} cannot change when resuming (the run was started "
                f"with {key} = {saved[key]!r}); start a new run to change it"
            )


def _same(key: str, given: Any, saved: Any, model: str | None = None) -> bool:
    """Whether a setting given when resuming is the run's own: a data set may be named by an
    alias or in capitals (`--dataset fashion-mnist` for a run of fmnist), an optimiser in any
    case (`--optimizer sgd` for a run of SGD), model options in part (`-o pool=max`) or as the
    `model`'s defaults (`-o activation=sigmoid` for a run of LeNet as d2l wrote it)."""
    if given == saved:
        return True
    try:
        if key == "dataset":
            from cnntui.data.datasets import parse_data_spec

            return _resolved(parse_data_spec(given)) == _resolved(parse_data_spec(saved))
        if key == "optimizer":
            return optimizer_class(given) is optimizer_class(saved)
        if key == "model_options" and isinstance(given, dict) and isinstance(saved, dict):
            # -o adds to the options it is given with, key by key: `-o pool=max` agrees
            # with a run of activation=relu, pool=max.
            built = {**option_defaults(model or ""), **saved}
            return {**built, **given} == built
    except UsageError:  # a name that means nothing is a change, said as one
        return False
    return False


def _resolved(spec: DataSpec) -> DataSpec:
    """`folder:imgs` and `folder:/abs/imgs` are one data set when they name one folder."""
    return spec if spec.path is None else replace(spec, path=spec.path.resolve())


def restore(setup: RunSetup, state: dict[str, Any]) -> None:
    """Put a checkpoint back so the run continues exactly where it stopped, under this run's
    settings: a learning rate or schedule given when resuming applies from here on."""
    load_weights(setup.model, state["model"], "the checkpoint", setup.config.model)
    load_optimizer_state(setup.optimizer, state["optimizer"])
    fast_forward(setup.schedule, int(state["schedule"]["last_epoch"]), setup.config)
    if setup.scaler is not None and "scaler" in state:
        setup.scaler.load_state_dict(state["scaler"])
    setup.start_step = int(state["step"])
    setup.start_epoch = int(state["epoch"])
    setup.start_batch = int(state.get("epoch_batch", 0))
    setup.history = list(state.get("history", []))  # older checkpoints have none
    setup.epochs_before = setup.start_epoch - len(setup.history)
    setup.epoch_progress = state.get("epoch_progress") if setup.start_batch else None
    setup.totals = dict(state.get("totals") or {})
    setup.best_accuracy = state.get("best_accuracy")
    torch.set_rng_state(state["rng_cpu"])
    if setup.device.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"], setup.device)


def load_optimizer_state(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """The checkpoint's optimiser state (momentum buffers, Adam's moments) under this run's
    hyperparameters.

    load_state_dict also takes every group's settings from the checkpoint, and they belong to
    the run that wrote it: a learning rate or weight decay given when resuming would be
    silently dropped, a CUDA-graph run resumed on a CPU would keep `capturable` (which fails
    there), and a CPU checkpoint resumed on a GPU would refuse the capture."""
    fresh = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    optimizer.load_state_dict(saved)
    for group, settings in zip(optimizer.param_groups, fresh, strict=True):
        group.update(settings)
        step_on_device = bool(group.get("capturable") or group.get("fused"))
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            step = state.get("step")
            if isinstance(step, torch.Tensor):
                state["step"] = step.to(param.device if step_on_device else "cpu")


def fast_forward(
    schedule: torch.optim.lr_scheduler.LRScheduler, steps: int, config: RunConfig
) -> None:
    """Move this run's freshly built schedule to `steps` steps done and set the learning rate
    it gives there.

    Not the checkpoint's schedule state: that holds the old run's base learning rates and, for
    one-cycle, its total step count, so a resume with more epochs would end in "Tried to step
    N times" and one with a new learning rate would keep the old. Every schedule here is a
    function of the step, so the fresh one at the same step is the old one where nothing
    changed."""
    state = schedule.state_dict()
    state["last_epoch"] = steps
    state["_step_count"] = steps + 1
    schedule.load_state_dict(state)
    with warnings.catch_warnings():  # get_lr outside step() warns; here it is the point
        warnings.simplefilter("ignore")
        try:
            lrs = schedule.get_lr()
        except ValueError:  # one-cycle past its end: fewer epochs than already trained
            raise UsageError(
                f"--epochs {config.epochs}: the one-cycle schedule would end "
                f"before step {steps}, where the run already is"
            ) from None
    for group, lr in zip(schedule.optimizer.param_groups, lrs, strict=True):
        group["lr"] = lr
    schedule._last_lr = list(lrs)  # what get_last_lr() reports: the rate of the next step
