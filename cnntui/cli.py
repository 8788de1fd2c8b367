"""The `cnntui` command line: run, shapes, models, presets, eval, watch.

Every command imports its heavy machinery (torch, Textual) inside its body, so `cnntui --help` and
`cnntui models` start instantly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cnntui.errors import CnntuiError, UsageError

app = typer.Typer(
    name="cnntui",
    help="A terminal UI training monitor for PyTorch CNNs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ModelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--opt",
        "-o",
        help="Model option KEY=VALUE, repeatable (e.g. -o activation=relu -o pool=max).",
    ),
]


def parse_key_values(pairs: list[str] | None) -> dict[str, Any]:
    """KEY=VALUE strings into a dict, values read as int, float, bool or string."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"expected KEY=VALUE, got {pair!r}")
        result[key.strip()] = _literal(raw.strip())
    return result


def _literal(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


@app.command()
def models(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """List the model zoo with parameter counts and default input shapes."""
    from cnntui.zoo_listing import print_models

    print_models(json_output=json_output)


@app.command()
def shapes(
    model: Annotated[str, typer.Argument(help="Zoo name, torchvision:NAME, or module:attr.")],
    input_shape: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="Input shape: 1x1x224x224, 1,1,224,224, '(1, 1, 224, 224)', or 224 "
            "(batch 1, the model's channels). Default: the model's own input.",
        ),
    ] = None,
    depth: Annotated[
        int | None, typer.Option("--depth", "-d", help="Collapse containers below this depth.")
    ] = None,
    dtype: Annotated[str, typer.Option(help="float32, float16, bfloat16, float64.")] = "float32",
    device: Annotated[
        str, typer.Option(help="cpu or meta traces without real memory; cuda measures real.")
    ] = "cpu",
    num_classes: Annotated[int | None, typer.Option(help="Output classes.")] = None,
    opt: ModelOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Every layer's output shape, parameters and FLOPs, and where shapes stop fitting."""
    from cnntui.shapes.command import shapes_command

    code = shapes_command(
        model=model,
        input_text=input_shape,
        depth=depth,
        dtype=dtype,
        device=device,
        num_classes=num_classes,
        options=parse_key_values(opt),
        json_output=json_output,
        debug=debug,
    )
    raise typer.Exit(code)


def main() -> None:
    """Console entry point: user-facing errors become one line and an exit code."""
    debug = "--debug" in sys.argv
    try:
        app(standalone_mode=False)
    except CnntuiError as exc:
        if debug:
            raise
        print(f"cnntui: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        sys.exit(130)
    except _click_exceptions() as exc:
        exc.show()
        sys.exit(exc.exit_code)


def _click_exceptions() -> tuple[type[Exception], ...]:
    import click

    return (click.ClickException,)


_ = Path  # re-exported for command modules that annotate paths
