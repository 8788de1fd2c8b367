"""`cnntui run` options through the real command: where a run is written, what --resume takes,
where a bad value came from, and the words of the headless summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# One batch per epoch: the smallest run that writes every file of a run directory.
ONE_STEP = ["--dataset", "synthetic:1x28x28:10:train=64:test=64", "-b", "64", "--epochs", "1"]


def cnntui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnntui", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A one-step run, made once, in a directory that was made by hand and left empty."""
    run_dir = tmp_path_factory.mktemp("runs") / "made-by-hand"
    run_dir.mkdir()
    out = cnntui("run", "mlp", *ONE_STEP, "--headless", "--run-dir", str(run_dir))
    assert out.returncode == 0, out.stderr
    return run_dir, out


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


@pytest.mark.parametrize("how", ["--run-dir", "--set"])
def test_a_run_dir_that_holds_a_run_is_refused_and_left_alone(finished_run, how) -> None:
    run_dir, _ = finished_run
    before = snapshot(run_dir)
    where = ["--run-dir", str(run_dir)] if how == "--run-dir" else ["--set", f"run_dir={run_dir}"]
    out = cnntui("run", "mlp", *ONE_STEP, "--headless", *where)
    assert out.returncode == 2
    assert out.stderr.startswith(f"cnntui: error: --run-dir {run_dir} already holds a run")
    assert f"cnntui run --resume {run_dir}" in out.stderr
    assert "Traceback" not in out.stderr
    assert snapshot(run_dir) == before


def test_an_empty_existing_directory_takes_a_new_run(finished_run) -> None:
    run_dir, out = finished_run
    assert out.returncode == 0, out.stderr
    assert (run_dir / "events.jsonl").exists() and (run_dir / "last.pt").exists()


def test_a_run_dir_that_is_a_file_is_a_usage_error(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    out = cnntui("run", "mlp", *ONE_STEP, "--headless", "--run-dir", str(path))
    assert out.returncode == 2
    assert f"--run-dir {path} is a file, not a directory" in out.stderr
    assert path.read_text() == "mine"


def test_resume_of_a_missing_path_is_a_usage_error(tmp_path) -> None:
    out = cnntui("run", "--resume", str(tmp_path / "nope"), "--headless")
    assert out.returncode == 2
    assert f"--resume {tmp_path / 'nope'}: no such run directory or checkpoint" in out.stderr


def test_resume_of_a_directory_without_last_pt_is_a_usage_error(tmp_path) -> None:
    out = cnntui("run", "--resume", str(tmp_path), "--headless")
    assert out.returncode == 2
    assert "holds no last.pt to continue from" in out.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "-1"], "--epochs must be at least 1, got -1"),
        (["-b", "0"], "--batch-size must be at least 1, got 0"),
        (["--lr", "-1"], "--lr must be positive, got -1.0"),
        (["--val-split", "1.5"], "--val-split must be in [0, 1), got 1.5"),
        (["--schedule", "foo"], "--schedule must be one of"),
        (["--set", "grad_clip=-1"], "--set grad_clip must be positive"),
        (
            ["--set", "grad_clip=x"],
            "--set grad_clip should be float (or none to unset it), got 'x'",
        ),
        (["--set", "epochs=none"], "--set epochs should be int, got 'none'"),
        (["--set", "epochs=ten"], "--set epochs should be int, got 'ten'"),
        (["--set", "learning_rate=0.1"], "--set: unknown key 'learning_rate'"),
        (["--set", "epochs"], "--set expects KEY=VALUE, got 'epochs'"),
        (["-o", "relu"], "--opt expects KEY=VALUE, got 'relu'"),
    ],
)
def test_a_bad_flag_is_named_as_typed_not_blamed_on_the_preset(flags, message) -> None:
    out = cnntui("run", "lenet", *flags, "--headless")
    assert out.returncode == 2
    assert out.stderr.startswith(f"cnntui: error: {message}")
    assert "lenet.toml" not in out.stderr


def test_every_key_with_a_run_flag_names_an_option_of_run() -> None:
    """Messages name `--batch-size` for batch_size; that flag must exist, and every flag that
    sets a key must be known, or its errors would read `--set KEY`."""
    import typer.main

    from cnntui.cli import app
    from cnntui.config import RUN_FLAGS, RunConfig

    command = typer.main.get_command(app).commands["run"]
    options = {name for param in command.params for name in param.opts}
    assert set(RUN_FLAGS.values()) <= options
    assert set(RUN_FLAGS) <= set(RunConfig.__dataclass_fields__)
    setting_options = {
        f"--{param.name.replace('_', '-')}"
        for param in command.params
        if param.name in RunConfig.__dataclass_fields__
    }
    assert setting_options <= set(RUN_FLAGS.values())


def test_shapes_refuses_zero_classes() -> None:
    out = cnntui("shapes", "lenet", "--num-classes", "0")
    assert out.returncode == 2
    assert out.stderr.strip() == "cnntui: error: --num-classes must be at least 1, got 0"


def test_headless_lines_count_one_epoch_and_one_step_in_the_singular(finished_run) -> None:
    _, out = finished_run
    assert "1 epoch x 1 step of 64" in out.stdout
    assert out.stdout.rstrip().splitlines()[-1].startswith("finished after 1 step in ")
    assert "1 epochs" not in out.stdout and "1 steps" not in out.stdout


def test_a_diverged_run_says_diverged_once(tmp_path) -> None:
    out = cnntui("run", "mlp", *ONE_STEP, "--epochs", "3", "--lr", "1e30", "--headless",
                 "--run-dir", str(tmp_path / "run"))  # fmt: skip
    assert out.returncode == 3, out.stderr
    last = out.stdout.rstrip().splitlines()[-1]
    assert last.startswith("diverged after ") and ": loss became nan at step " in last
    assert last.count("diverged") == 1


@pytest.mark.parametrize(
    "typed", ["optimizer_args={betas = [0.5, 0.75]}", 'optimizer_args={"betas": [0.5, 0.75]}']
)
def test_a_table_key_is_set_on_the_command_line_as_a_preset_writes_it(tmp_path, typed) -> None:
    """The README says every preset key can be set with --set; optimizer_args, which has no
    flag of its own, was refused: "--set optimizer_args should be dict, got '{…}'"."""
    run_dir = tmp_path / "run"
    out = cnntui("run", "mlp", *ONE_STEP, "--optimizer", "adam", "--set", typed, "--headless",
                 "--run-dir", str(run_dir))  # fmt: skip
    assert out.returncode == 0, out.stderr
    config = json.loads((run_dir / "config.json").read_text())
    assert config["optimizer_args"] == {"betas": [0.5, 0.75]}
    saved = torch.load(run_dir / "last.pt", weights_only=True)["optimizer"]["param_groups"][0]
    assert tuple(saved["betas"]) == (0.5, 0.75)


def test_a_table_whose_text_the_shell_unquoted_is_refused_with_the_quoted_spelling() -> None:
    """`--set model_options={activation="relu"}` reaches cnntui as {activation=relu}: bash took
    the quotes. The refusal said only 'should be dict'."""
    from cnntui.config import load_config
    from cnntui.errors import UsageError

    with pytest.raises(UsageError) as refused:
        load_config("lenet", None, {"model_options": "{activation=relu, pool=max}"})
    assert str(refused.value) == (
        "--set model_options should be dict, got '{activation=relu, pool=max}'; TOML quotes "
        "text, and the shell keeps quotes inside single ones: "
        """--set 'model_options={activation="relu", pool="max"}'"""
    )


def test_each_opt_adds_to_the_model_options_set_with_set(tmp_path) -> None:
    """`--set model_options={activation="relu"} -o pool=max`: the -o replaced the table."""
    run_dir = tmp_path / "run"
    out = cnntui("run", "lenet", *ONE_STEP, "--set", 'model_options={activation="relu"}',
                 "-o", "pool=max", "--headless", "--run-dir", str(run_dir))  # fmt: skip
    assert out.returncode == 0, out.stderr
    options = json.loads((run_dir / "config.json").read_text())["model_options"]
    assert options == {"activation": "relu", "pool": "max"}


def test_a_flag_and_a_set_of_the_same_key_that_disagree_are_refused(tmp_path) -> None:
    """`--epochs 3 --set epochs=2`: the flag won without a word."""
    out = cnntui("run", "lenet", *ONE_STEP, "--epochs", "3", "--set", "epochs=2", "--json",
                 "--runs-root", str(tmp_path))  # fmt: skip
    assert out.returncode == 2
    message = "--epochs 3 and --set epochs=2 both set epochs; give it once"
    assert json.loads(out.stdout.splitlines()[-1])["error"] == message
    assert out.stderr.strip() == f"cnntui: error: {message}"


@pytest.mark.parametrize("how", ["flags", "--set"])
def test_a_run_dir_and_a_runs_root_together_are_refused(tmp_path, how) -> None:
    """`--runs-root R --run-dir D` wrote the run to ./D, not R/D as it reads, and R went unused."""
    root = tmp_path / "runs"
    if how == "flags":
        given = ["--runs-root", str(root), "--run-dir", "exp1"]
    else:
        given = ["--set", f"runs_root={root}", "--set", "run_dir=exp1"]
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "run", "mlp", *ONE_STEP, "--headless", *given],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (
        "cnntui: error: --run-dir names the run's own folder and --runs-root the folder that new "
        f"runs are made in: give one of them (for a run in {root}, --run-dir {root / 'exp1'})"
    )
    assert list(tmp_path.iterdir()) == []  # nothing made: not ./exp1, not the root
