"""Run configuration: presets (TOML) plus command-line overrides, validated with clear errors."""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from cnntui.errors import UsageError
from cnntui.wording import did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

OPTIMIZERS_BUILTIN = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
INITS = ("default", "xavier", "kaiming")
AMP_MODES = ("off", "auto", "bf16", "fp16")

COMMAND_LINE = "the command line"  # the source of a value given to `cnntui run`
# The keys `cnntui run` sets with a flag of their own; any other key is set with --set KEY=VALUE.
# A test keeps this in step with the command's options.
RUN_FLAGS = {
    key: "--" + key.replace("_", "-")
    for key in (
        "dataset", "epochs", "batch_size", "lr", "optimizer", "schedule", "device", "data_dir",
        "resize", "augment", "val_split", "seed", "amp", "max_steps", "run_dir", "runs_root",
    )
} | {"model_options": "--opt"}  # fmt: skip


def command_line_name(key: str) -> str:
    """What the user typed to set `key`, for messages: `--batch-size`, or `--set grad_clip`."""
    return RUN_FLAGS.get(key, f"--set {key}")


def setting_name(where: str, key: str) -> str:
    """How a message names `key` set in `where`: the flag when it was the command line, since
    that is what the user typed; `file: key` for a preset (or a checkpoint's saved config)."""
    if where == COMMAND_LINE:
        return command_line_name(key)
    return f"{where}: {key}"


def blame(where: str, key: str, why: str) -> UsageError:
    """A usage error for `key` set in `where`, named as `setting_name` names it."""
    return UsageError(f"{setting_name(where, key)} {why}")


# Why an empty folder option is refused (`--run-dir "$DIR"` with DIR unset, say).
EMPTY_FOLDER = "is empty; name a folder, or leave it out for the default"


def is_blank(value: object) -> bool:
    """An empty or all-space string: as a Path it would be ".", the current directory."""
    return isinstance(value, str) and not value.strip()


@overload
def given_path(what: str, value: str, wanted: str = EMPTY_FOLDER) -> Path: ...
@overload
def given_path(what: str, value: None, wanted: str = EMPTY_FOLDER) -> None: ...
@overload
def given_path(what: str, value: str | None, wanted: str = EMPTY_FOLDER) -> Path | None: ...


def given_path(what: str, value: str | None, wanted: str = EMPTY_FOLDER) -> Path | None:
    """A path named on the command line. An empty one (`"$RUN"` with RUN unset) is refused:
    as a Path it would be ".", the current directory, resumed, evaluated or watched unasked."""
    if value is None:
        return None
    if is_blank(value):
        raise UsageError(f"{what} {wanted}")
    return Path(value)


@dataclass
class RunConfig:
    """Everything that decides what a run does. Field comments are the preset documentation."""

    model: str = "lenet"
    model_options: dict[str, Any] = field(default_factory=dict)  # e.g. activation, pool, ratio
    dataset: str = "fmnist"
    data_dir: str | None = None
    resize: int | None = None  # square size images are resized to on the device (d2l: 224, 96)
    augment: bool = False  # random crop and (where it makes sense) horizontal flip
    normalize: bool = True  # per-channel mean/std; d2l's recipes feed raw 0..1 pixels
    val_split: float = 0.0  # fraction of the training set held out, seeded
    epochs: int = 10
    batch_size: int = 256
    max_steps: int | None = None  # stop after this many steps (smoke tests, benchmarks)
    optimizer: str = "sgd"  # sgd, adam, adamw, rmsprop, or a torch.optim class name
    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    optimizer_args: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments
    schedule: str = "constant"  # constant, step, cosine, onecycle
    warmup_epochs: float = 0.0
    step_size: int = 30  # epochs between decays of the step schedule
    gamma: float = 0.1
    init: str = "default"  # default, xavier (d2l), kaiming
    label_smoothing: float = 0.0
    grad_clip: float | None = None  # max global gradient norm
    amp: str = "off"  # off, bf16, fp16 (CUDA; bf16 also on CPU), auto (bf16 on a CUDA GPU)
    channels_last: bool | None = None  # None: whichever layout trains faster (timed at start)
    compile: bool = False
    cuda_graph: bool | None = None  # replay the training step as one CUDA graph (None: if it can)
    matmul_stem: bool | None = None  # first conv as im2col + GEMM (None: on CUDA where it applies)
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"  # auto, cpu, cuda, cuda:1, mps
    health_every: int = 50  # steps between per-layer health samples, at most 4/s (0: never)
    log_interval: float = 0.1  # seconds between step metrics (the only host syncs of the loop)
    device_stats_interval: float = 1.0
    eval_every: int = 1  # epochs between evaluations on val/test
    checkpoint_every: int = 1  # epochs between last.pt saves
    runs_root: str = "runs"
    run_dir: str | None = None
    name: str | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # `~` expanded, as for data_dir: a preset has no shell to do it, and `~/runs` made a
    # folder named `~` in the current one.
    @property
    def run_dir_path(self) -> Path | None:
        return Path(self.run_dir).expanduser() if self.run_dir else None

    @property
    def runs_root_path(self) -> Path:
        return Path(self.runs_root).expanduser()

    def validate(
        self, source: str = "the configuration", sources: dict[str, str] | None = None
    ) -> RunConfig:
        """Check values that type checks cannot; raise UsageError naming the key and where it
        was set: `sources[key]` when given (a preset file, the command line), else `source`."""

        def bad(key: str, why: str) -> UsageError:
            return blame((sources or {}).get(key, source), key, why)

        for key, value in self.to_dict().items():
            # NaN passes no range check below by failing every comparison; say so plainly.
            if isinstance(value, float) and not math.isfinite(value):
                raise bad(key, f"must be a finite number, got {value}")
        for key in ("run_dir", "runs_root", "data_dir"):
            # `--run-dir "$DIR"` with DIR unset: an empty folder would quietly mean the default
            # one (run_dir, data_dir) or the current directory (runs_root).
            if is_blank(getattr(self, key)):
                raise bad(key, EMPTY_FOLDER)
        if self.epochs < 1:
            raise bad("epochs", f"must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise bad("batch_size", f"must be at least 1, got {self.batch_size}")
        if self.max_steps is not None and self.max_steps < 1:
            raise bad("max_steps", f"must be at least 1, got {self.max_steps}")
        if not 0 <= self.val_split < 1:
            raise bad("val_split", f"must be in [0, 1), got {self.val_split}")
        if self.resize is not None and not 1 <= self.resize <= 4096:
            raise bad("resize", f"must be between 1 and 4096, got {self.resize}")
        self._validate_optimization(bad)
        if self.init not in INITS:
            raise bad("init", f"must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.amp not in AMP_MODES:
            raise bad("amp", f"must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        # Intervals: the loop would quietly read 0 as 1 (eval, checkpoints) or spin (seconds).
        for key in ("eval_every", "checkpoint_every"):
            if getattr(self, key) < 1:
                raise bad(key, f"must be at least 1, got {getattr(self, key)}")
        if self.health_every < 0:
            raise bad("health_every", f"must be 0 (never) or more, got {self.health_every}")
        for key in ("log_interval", "device_stats_interval"):
            if getattr(self, key) <= 0:
                raise bad(key, f"must be positive (seconds), got {getattr(self, key)}")
        return self

    def _validate_optimization(self, bad: Callable[[str, str], UsageError]) -> None:
        """The optimiser, schedule and loss settings: a value outside these ranges does not
        fail, it trains wrongly (a negative gamma or clip norm flips the update's sign)."""
        if self.lr <= 0:
            raise bad("lr", f"must be positive, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise bad("momentum", f"must be in [0, 1), got {self.momentum}")
        if self.nesterov and self.momentum == 0 and self.optimizer.lower() == "sgd":
            raise bad("nesterov", "needs a momentum above 0 (e.g. --set momentum=0.9)")
        if self.weight_decay < 0:
            raise bad("weight_decay", f"must be 0 or more, got {self.weight_decay}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise bad(
                "grad_clip",
                f"must be positive (the largest gradient norm kept), got {self.grad_clip}; "
                "leave it unset for no clipping",
            )
        if not 0 <= self.label_smoothing < 1:
            raise bad("label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.warmup_epochs < 0:
            raise bad("warmup_epochs", f"must be 0 or more, got {self.warmup_epochs}")
        if self.step_size < 1:
            raise bad("step_size", f"must be at least 1 (epochs), got {self.step_size}")
        if not 0 < self.gamma <= 1:
            raise bad("gamma", f"must be in (0, 1] (the factor the lr decays by), got {self.gamma}")


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_HINTS = typing.get_type_hints(RunConfig)


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(key: str, value: Any, source: str) -> Any:
    """Check `value` against the field's annotation; ints are accepted where floats are."""
    tp = _HINTS[key]
    origin = typing.get_origin(tp)
    allowed = typing.get_args(tp) if origin in (typing.Union, types.UnionType) else (tp,)
    for option in allowed:
        if option is type(None) and value is None:
            return None
        base = typing.get_origin(option) or option
        if base is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if base is int and isinstance(value, bool):
            continue
        if isinstance(base, type) and isinstance(value, base):
            return value
    wanted = " or ".join(_describe(t) for t in allowed if t is not type(None))
    # TOML has no None: a preset leaves an optional key out. On the command line `none` unsets
    # the keys `clearable` names (a resumed run carries its saved values, so there is no
    # leaving them out there), and `auto` the switches `automatic` names.
    unset = " (or left unset)" if type(None) in allowed else ""
    if automatic(key):
        wanted, unset = (
            ("true, false or auto", "")
            if source == COMMAND_LINE
            else ("true or false", " (or left unset: auto)")
        )
    elif source == COMMAND_LINE and clearable(key):
        unset = " (or none to unset it)"
    # From the command line, only --set reaches here: typer has already checked the flags' types.
    where = f"--set {key}" if source == COMMAND_LINE else f"{source}: {key}"
    hint = ""
    if source == COMMAND_LINE and isinstance(value, str) and value[:1] in ("{", "["):
        from cnntui.key_values import quoted_text_hint

        hint = quoted_text_hint(key, value)
    raise UsageError(f"{where} should be {wanted}{unset}, got {value!r}{hint}")


def clearable(key: str) -> bool:
    """Whether `--set KEY=none` unsets `key` (back to its default, None): an optional number or
    switch (max_steps, grad_clip, resize, channels_last, ...). A text key (data_dir, run_dir,
    name) takes `none` as its value, since a folder may be called that."""
    options = _union_of(key)
    return type(None) in options and str not in options


def automatic(key: str) -> bool:
    """Whether `key` is a switch whose None means "the engine decides" (channels_last,
    cuda_graph, matmul_stem): `auto` on the command line, as the README and the log call it."""
    return set(_union_of(key)) == {bool, type(None)}


def _union_of(key: str) -> tuple[Any, ...]:
    """The types a key's annotation joins (`int | None`: int, NoneType); () for one type."""
    tp = _HINTS.get(key)
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return ()
    return typing.get_args(tp)


def unset_with_none(settings: dict[str, Any]) -> dict[str, Any]:
    """`--set` settings with `none` (any case) read as None for the keys that can be unset, and
    `auto` (any case) for the switches that None leaves to the engine."""

    def read(key: str, value: Any) -> Any:
        word = str(value).lower()
        if (clearable(key) and word == "none") or (automatic(key) and word == "auto"):
            return None
        return value

    return {key: read(key, value) for key, value in settings.items()}


def apply_settings(config: RunConfig, settings: dict[str, Any], source: str) -> RunConfig:
    """A copy of `config` with `settings` applied; unknown keys and wrong types are errors."""
    values = {}
    for key, value in settings.items():
        if key not in FIELDS:
            where = "--set" if source == COMMAND_LINE else source
            hint = did_you_mean(key, FIELDS, n=1, cutoff=0.6)
            raise UsageError(f"{where}: unknown key {key!r}{hint}")
        values[key] = _coerce(key, value, source)
    return dataclasses.replace(config, **values)


# --- presets ---------------------------------------------------------------------------------


def presets_dir() -> Path:
    """Presets ship inside the wheel as cnntui/presets; a source checkout has them at the top."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "presets", here.parent / "presets"):
        if candidate.is_dir():
            return candidate
    raise UsageError("cannot find the presets folder; is cnntui installed correctly?")


def list_presets() -> dict[str, Path]:
    # By name, not file name: "lenet.toml" sorts after "lenet-bn.toml" ("." > "-").
    return {p.stem: p for p in sorted(presets_dir().glob("*.toml"), key=lambda p: p.stem)}


def read_preset(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"preset file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        # TOML is UTF-8; tomllib lets the decoder's error through (a traceback, exit 1).
        raise UsageError(f"{path}: not valid TOML: not UTF-8 text (byte {exc.start})") from None


def find_preset(name: str) -> Path | None:
    """A preset by name (`lenet`) or path (`my.toml`), or None when there is no such preset."""
    if name.endswith(".toml"):
        path = Path(name).expanduser()
        if path.is_dir():
            raise UsageError(f"preset file {name} is a directory, not a .toml file")
        if not path.is_file():
            shipped = (
                f"; the shipped preset is --preset {path.stem}"
                if (path.parent == Path() and path.stem in list_presets())
                else ""
            )
            raise UsageError(f"preset file {name} does not exist{shipped}")
        return path
    return list_presets().get(name)


def load_config(
    target: str, preset: str | None = None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Resolve `cnntui run TARGET`: a preset name, else a model with default settings.

    `--preset PATH` names the preset explicitly; then TARGET, if given, overrides its model.
    """
    return load_config_with_sources(target, preset, overrides)[0]


def load_config_with_sources(
    target: str, preset: str | None = None, overrides: dict[str, Any] | None = None
) -> tuple[RunConfig, dict[str, str]]:
    """`load_config`'s config, and where each key set was set (the preset file, or
    COMMAND_LINE), for messages about a setting after validation (`setting_name`)."""
    config = RunConfig()
    sources: dict[str, str] = {}  # where each key was set, for the message that rejects it
    preset_path = find_preset(preset) if preset else find_preset(target) if target else None
    if preset and preset_path is None:
        hint = did_you_mean(preset, list_presets())
        raise UsageError(f"unknown preset {preset!r}{hint}; see `cnntui presets`")
    if preset_path is not None:
        settings = read_preset(preset_path)
        config = apply_settings(config, settings, str(preset_path))
        sources.update(dict.fromkeys(settings, str(preset_path)))
    if target and (preset or preset_path is None):
        config = apply_settings(config, {"model": target}, COMMAND_LINE)
    elif preset_path is not None and "model" not in settings and "model" not in (overrides or {}):
        # Otherwise the default model (LeNet) would train without a word.
        raise UsageError(
            f'{preset_path}: the preset names no model; add a line such as model = "lenet" '
            "(`cnntui models` lists them)"
        )
    if preset_path is None and target:
        from cnntui.zoo import resolve_spec

        if ":" not in target:
            resolve_spec(target)  # unknown names fail here, with suggestions
    line = dict(overrides or {})
    if isinstance(line.get("model_options"), dict):
        # Added to the preset's, key by key: `-o pool=max` on a preset of activation=relu
        # replaced its options, and the net went back to the model's default activation.
        line["model_options"] = {**config.model_options, **line["model_options"]}
    config = apply_settings(config, line, COMMAND_LINE)
    sources.update(dict.fromkeys(line, COMMAND_LINE))
    return config.validate(COMMAND_LINE, sources), sources
