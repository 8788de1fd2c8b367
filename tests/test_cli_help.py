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
