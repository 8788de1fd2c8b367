"""Every option of every command says what it does in `--help`."""

from __future__ import annotations

import typer

from cnntui.cli import app


def test_every_option_has_help_text() -> None:
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert {"run", "shapes", "watch", "eval"} <= commands.keys()
    silent = [
        f"{name} {param.opts[0]}"
        for name, command in commands.items()
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "help", None)
    ]
    assert silent == []


def test_help_fits_an_80_column_terminal_without_cutting_words() -> None:
    """Rich cuts a word longer than the help column with an ellipsis: the dataset spec was.
    And a flag takes no value: typer wrote `--headless <bool>` as if `--headless true` were
    the way to use it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    for command in ("run", "shapes", "watch", "eval", "presets", "models", ""):  # "": the root
        out = subprocess.run(
            [sys.executable, "-m", "cnntui", *command.split(), "--help"],
            capture_output=True, text=True, env=env, check=True, timeout=300,
        )  # fmt: skip
        assert "…" not in out.stdout, (command, out.stdout)
        assert max(len(line) for line in out.stdout.splitlines()) <= 80
        assert "--help" in out.stdout and "<bool>" not in out.stdout, (command, out.stdout)


def test_version_prints_the_package_version() -> None:
    from typer.testing import CliRunner

    from cnntui import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"cnntui {__version__}"


def test_eval_refuses_a_batch_size_under_one(tmp_path) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["eval", str(tmp_path), "-b", "0"])
    assert result.exit_code == 2
    assert "--batch-size" in result.output


def test_run_and_shapes_help_say_where_defaults_and_exit_codes_come_from() -> None:
    """`run --help` shows no default beside --epochs or --lr (each comes from the preset), and
    a script calling `shapes` needs to know that 1 means the input does not fit."""
    from typer.testing import CliRunner

    def words(*args: str) -> str:
        result = CliRunner().invoke(app, [*args, "--help"])
        assert result.exit_code == 0
        return " ".join(result.output.replace("│", " ").split())

    run_help = words("run")
    assert "Options left out keep the preset's values (`cnntui presets`)" in run_help
    assert "Exit codes: 0 done, 1 error, 2 usage, 3 diverged" in run_help
    shapes_help = words("shapes")
    assert "Exit codes: 0 the input fits, 1 it does not" in shapes_help
