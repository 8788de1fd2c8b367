"""On/off flags in `--help` without a value beside them.

Typer 0.29 writes `<bool>` beside every flag (`--headless <bool>`, `--help <bool>`), which
reads as `--headless true`; the commands here use `flag()` for their own flags and `Command` /
`Group`, whose help option is cleared the same way.
"""

from __future__ import annotations

from typing import Any

import typer
import typer.core


class _HelpFlagShowsNoValue:
    """Typer writes `<bool>` beside a flag as if it took a value (`--help <bool>`); the help
    option is built by the command itself, so its metavar is cleared here. `flag()` does the
    same for the commands' own flags."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class Command(_HelpFlagShowsNoValue, typer.core.TyperCommand):
    pass


class Group(_HelpFlagShowsNoValue, typer.core.TyperGroup):
    pass


def flag(*names: str, help: str, **options: Any) -> Any:
    """An on/off option, written in `--help` without a value."""
    return typer.Option(*names, help=help, metavar="", **options)
