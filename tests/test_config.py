"""Presets and overrides: every preset loads, and bad keys or types are named with their file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnntui.config import (
    RunConfig,
    apply_settings,
    list_presets,
    load_config,
    read_preset,
    unset_with_none,
)
from cnntui.errors import UsageError

D2L_RECIPES = {
    # preset: (model, lr, batch size, resize)
    "lenet": ("lenet", 0.9, 256, None),
    "lenet-bn": ("lenet-bn", 1.0, 256, None),
    "alexnet": ("alexnet", 0.01, 128, 224),
    "vgg11": ("vgg11", 0.05, 128, 224),
    "nin": ("nin", 0.1, 128, 224),
    "googlenet": ("googlenet", 0.1, 128, 96),
    "resnet18": ("resnet18", 0.05, 256, 96),
    "densenet": ("densenet", 0.1, 256, 96),
}


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_every_preset_loads_and_validates(name: str) -> None:
    config = load_config(name)
    assert config.epochs >= 1
    assert config.model


@pytest.mark.parametrize(("name", "recipe"), sorted(D2L_RECIPES.items()))
def test_d2l_presets_use_the_books_hyperparameters(name: str, recipe: tuple) -> None:
    model, lr, batch, resize = recipe
    config = load_config(name)
    assert (config.model, config.lr, config.batch_size, config.resize) == (model, lr, batch, resize)
    assert config.optimizer == "sgd" and config.momentum == 0 and config.weight_decay == 0
    assert config.init == "xavier"
    assert config.normalize is False  # ToTensor() only, as train_ch6 feeds it
    assert config.epochs == 10


def test_vgg11_preset_trains_the_quarter_width_net() -> None:
    assert load_config("vgg11").model_options == {"ratio": 4}


def test_adam_presets() -> None:
    cifar = load_config("lenet5-cifar10")
    assert (cifar.model, cifar.dataset, cifar.optimizer, cifar.lr, cifar.batch_size) == (
        "lenet5-cifar",
        "cifar10",
        "adam",
        1e-3,
        128,
    )
    mlp = load_config("mlp-mnist")
    assert (mlp.model, mlp.dataset, mlp.optimizer, mlp.batch_size) == ("mlp", "mnist", "adam", 64)


def test_flags_override_the_preset() -> None:
    config = load_config("lenet", overrides={"epochs": 2, "dataset": "synthetic", "lr": 0.5})
    assert (config.epochs, config.dataset, config.lr, config.batch_size) == (
        2,
        "synthetic",
        0.5,
        256,
    )


def test_a_model_name_without_a_preset_gets_defaults() -> None:
    config = load_config("mlp")
    assert config.model == "mlp" and config.dataset == "fmnist"


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UsageError, match="did you mean lenet"):
        load_config("lenett")


def test_user_preset_file(tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('model = "mlp"\nepochs = 3\nlr = 0.01\n[model_options]\nimage_size = 28\n')
    config = load_config("", preset=str(path))
    assert (config.model, config.epochs, config.lr) == ("mlp", 3, 0.01)


def test_model_options_on_the_command_line_are_added_to_the_presets(tmp_path) -> None:
    """`-o pool=max` on a preset of activation=relu replaced its options: the net went back to
    LeNet's sigmoid without a word."""
    path = tmp_path / "mine.toml"
    path.write_text('model = "lenet"\n[model_options]\nactivation = "relu"\npool = "avg"\n')
    config = load_config("", preset=str(path), overrides={"model_options": {"pool": "max"}})
    assert config.model_options == {"activation": "relu", "pool": "max"}


def test_a_preset_file_without_a_model_is_refused_unless_one_is_given(tmp_path) -> None:
    path = tmp_path / "no-model.toml"
    path.write_text("epochs = 1\n")
    with pytest.raises(UsageError, match=r"no-model\.toml: the preset names no model"):
        load_config("", preset=str(path))
    assert load_config("mlp", preset=str(path)).model == "mlp"
    assert load_config("", preset=str(path), overrides={"model": "mlp"}).model == "mlp"


def test_unknown_key_names_the_key_and_the_file(tmp_path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('model = "lenet"\nlearning_rate = 0.1\nepoch = 3\n')
    with pytest.raises(UsageError) as info:
        load_config("", preset=str(path))
    message = str(info.value)
    assert str(path) in message and "'learning_rate'" in message


def test_wrong_type_names_the_key_the_file_and_the_value(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('model = "lenet"\nepochs = "ten"\n')
    with pytest.raises(UsageError, match=r"bad\.toml: epochs should be int, got 'ten'"):
        load_config("", preset=str(path))


def test_none_unsets_an_optional_number_or_switch_given_on_the_command_line() -> None:
    """A resumed run carries the values it was started with (max_steps, grad_clip), and there
    was no way to unset one: `--set max_steps=none` was refused as not an int."""
    settings = unset_with_none(
        {"max_steps": "none", "grad_clip": "None", "resize": "NONE", "channels_last": "none"}
    )
    assert settings == dict.fromkeys(("max_steps", "grad_clip", "resize", "channels_last"))
    config = load_config("alexnet", None, {**settings, "max_steps": 5})  # the preset's resize 224
    assert config.resize is None and config.max_steps == 5
    assert load_config("lenet", None, unset_with_none({"max_steps": "none"})).max_steps is None


def test_none_is_a_value_for_a_text_key_and_an_error_for_a_required_one() -> None:
    # A folder may be called none: text keys keep the word.
    settings = unset_with_none({"data_dir": "none", "run_dir": "none", "epochs": "none"})
    assert settings == {"data_dir": "none", "run_dir": "none", "epochs": "none"}
    assert load_config("lenet", None, {"data_dir": settings["data_dir"]}).data_dir == "none"
    with pytest.raises(UsageError, match=r"^--set epochs should be int, got 'none'$"):
        load_config("lenet", None, {"epochs": settings["epochs"]})
    with pytest.raises(UsageError, match=r"should be int \(or none to unset it\), got 'x'$"):
        load_config("lenet", None, unset_with_none({"max_steps": "x"}))


def test_a_preset_leaves_an_optional_key_out_instead_of_none(tmp_path) -> None:
    path = tmp_path / "none.toml"
    path.write_text('model = "lenet"\nmax_steps = "none"\n')
    with pytest.raises(UsageError, match=r"max_steps should be int \(or left unset\), got 'none'"):
        load_config("", preset=str(path))


def test_broken_toml_is_reported(tmp_path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("model = \n")
    with pytest.raises(UsageError, match="not valid TOML"):
        read_preset(path)


def test_a_preset_file_that_is_not_utf8_is_a_usage_error(tmp_path) -> None:
    # tomllib let the UnicodeDecodeError through: a traceback and exit 1 for a user's file.
    path = tmp_path / "latin1.toml"
    path.write_bytes('model = "lenet"\ndescription = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(UsageError, match=r"latin1\.toml: not valid TOML: not UTF-8 text"):
        load_config("", preset=str(path))


def test_a_preset_path_that_is_a_directory_is_not_said_to_be_missing(tmp_path) -> None:
    folder = tmp_path / "recipes.toml"
    folder.mkdir()
    with pytest.raises(UsageError, match=r"recipes\.toml is a directory, not a \.toml file$"):
        load_config("", preset=str(folder))


@pytest.mark.parametrize("key", ["run_dir", "runs_root", "data_dir"])
def test_an_empty_folder_is_refused_not_read_as_the_default(key: str) -> None:
    # `--run-dir "$DIR"` with DIR unset wrote the run under runs/ (--runs-root: into the
    # current directory) and exited 0, leaving the script to look for it where it is not.
    flag = "--" + key.replace("_", "-")
    for value in ("", "  "):
        with pytest.raises(UsageError, match=rf"^{flag} is empty; name a folder"):
            load_config("lenet", None, {key: value})


def test_ints_are_accepted_for_floats_but_bools_are_not_ints() -> None:
    assert apply_settings(RunConfig(), {"lr": 1}, "x").lr == 1.0
    with pytest.raises(UsageError, match="epochs should be int"):
        apply_settings(RunConfig(), {"epochs": True}, "x")


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("epochs", 0, "^--epochs must be at least 1"),
        ("lr", -1.0, "^--lr must be positive"),
        ("val_split", 1.0, "^--val-split must be in"),
        ("schedule", "linear", "^--schedule must be one of"),
        ("amp", "fp8", "^--amp must be one of"),
    ],
)
def test_values_out_of_range(key: str, value: object, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        load_config("lenet", overrides={key: value})


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"grad_clip": -1.0}, "--set grad_clip must be positive"),
        ({"grad_clip": 0.0}, "--set grad_clip must be positive"),
        ({"schedule": "step", "gamma": -1.0}, r"--set gamma must be in \(0, 1\]"),
        ({"gamma": 0.0}, r"--set gamma must be in \(0, 1\]"),
        ({"schedule": "onecycle", "warmup_epochs": -1.0}, "--set warmup_epochs must be 0 or more"),
        ({"step_size": 0}, "--set step_size must be at least 1"),
        ({"momentum": 1.0}, r"--set momentum must be in \[0, 1\)"),
        ({"momentum": -0.5}, r"--set momentum must be in \[0, 1\)"),
        ({"nesterov": True, "momentum": 0.0}, "--set nesterov needs a momentum above 0"),
        ({"weight_decay": -1e-4}, "--set weight_decay must be 0 or more"),
        ({"label_smoothing": -0.1}, "--set label_smoothing must be in"),
        ({"eval_every": 0}, "--set eval_every must be at least 1"),
        ({"checkpoint_every": 0}, "--set checkpoint_every must be at least 1"),
        ({"health_every": -1}, "--set health_every must be 0"),
        ({"device_stats_interval": 0.0}, "--set device_stats_interval must be positive"),
        ({"lr": float("nan")}, "--lr must be a finite number, got nan"),
        ({"lr": float("inf")}, "--lr must be a finite number, got inf"),
    ],
)
def test_settings_that_would_train_wrongly_are_refused(settings: dict, fragment: str) -> None:
    with pytest.raises(UsageError, match=f"^{fragment}"):
        load_config("mlp", overrides=settings)


def test_sensible_optimizer_settings_pass() -> None:
    settings = {
        "schedule": "step", "gamma": 1.0, "step_size": 1, "grad_clip": 1.0,
        "momentum": 0.9, "nesterov": True, "warmup_epochs": 0.5, "weight_decay": 5e-4,
    }  # fmt: skip
    config = load_config("mlp", overrides=settings)
    assert (config.gamma, config.grad_clip, config.nesterov) == (1.0, 1.0, True)


def test_a_bad_value_names_where_it_was_set(tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('model = "lenet"\nepochs = 0\n')
    with pytest.raises(UsageError, match=r"^.*mine\.toml: epochs must be at least 1, got 0$"):
        load_config("", preset=str(path))
    # The preset is fine; the command line is not: blame the flag, not the file.
    with pytest.raises(UsageError, match=r"^--epochs must be at least 1, got -1$"):
        load_config("lenet", overrides={"epochs": -1})
    # A bad preset value that the command line replaces never counts.
    assert load_config("", preset=str(path), overrides={"epochs": 3}).epochs == 3


def test_the_readme_documents_every_preset_key() -> None:
    """`--set KEY=VALUE` takes any of them; the README's table is where a user finds them."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme[readme.index("### Preset keys") : readme.index("## Development")]
    missing = [key for key in RunConfig.__dataclass_fields__ if f"`{key}`" not in table]
    assert missing == []


def test_a_mistyped_preset_name_gets_the_closest_shipped_names() -> None:
    with pytest.raises(UsageError, match=r"^unknown preset 'lenett' \(did you mean lenet or "):
        load_config("", preset="lenett")


def test_a_shipped_preset_named_as_a_file_is_pointed_at_its_name(tmp_path, monkeypatch) -> None:
    """`--preset lenet.toml` read a file in the current folder, and said only that it did not
    exist; the shipped preset is `--preset lenet`."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"lenet.toml does not exist; the shipped preset is "):
        load_config("", preset="lenet.toml")
    # A path elsewhere names the user's own file: no shipped preset is meant.
    with pytest.raises(UsageError, match=r"sub/lenet.toml does not exist$"):
        load_config("", preset="sub/lenet.toml")
