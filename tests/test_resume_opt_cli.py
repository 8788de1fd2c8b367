"""`run --resume DIR -o KEY=VALUE` through the real command: an option the run already has is
no change; another value for it is refused (exit 2) and the run is left as it was."""

from __future__ import annotations

import json

from tests.cnntui_command import cnntui

TINY = ["--dataset", "synthetic:1x28x28:10:train=256:test=64", "-b", "64", "--epochs", "1"]


def test_resuming_with_an_option_the_run_already_has(tmp_path) -> None:
    run_dir = tmp_path / "run"
    first = cnntui("run", "lenet", *TINY, "--max-steps", "1", "-o", "activation=relu",
                   "-o", "pool=max", "--headless", "--run-dir", run_dir)  # fmt: skip
    assert first.returncode == 0, first.stderr

    # Was refused: "--opt cannot change when resuming", the whole table compared with one key.
    same = cnntui("run", "--resume", run_dir, "--max-steps", "2", "-o", "pool=max", "--json")
    assert same.returncode == 0, same.stderr
    started = json.loads(same.stdout.splitlines()[0])
    assert started["start_step"] == 1
    assert started["config"]["model_options"] == {"activation": "relu", "pool": "max"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["steps"]) == ("finished", 2)

    changed = cnntui("run", "--resume", run_dir, "--max-steps", "3", "-o", "pool=avg")
    assert changed.returncode == 2
    assert changed.stderr.strip().startswith("cnntui: error: --opt cannot change when resuming")
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2  # not run


def test_resuming_with_the_models_default_option_named(tmp_path) -> None:
    run_dir = tmp_path / "run"
    first = cnntui("run", "lenet", *TINY, "--max-steps", "1", "--headless", "--run-dir", run_dir)
    assert first.returncode == 0, first.stderr

    # Was refused: the run saved no options, and sigmoid (LeNet's default) looked like a change.
    same = cnntui("run", "--resume", run_dir, "--max-steps", "2", "-o", "activation=sigmoid",
                  "--json")  # fmt: skip
    assert same.returncode == 0, same.stderr
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2

    changed = cnntui("run", "--resume", run_dir, "--max-steps", "3", "-o", "activation=relu")
    assert changed.returncode == 2
    assert changed.stderr.strip().startswith("cnntui: error: --opt cannot change when resuming")
