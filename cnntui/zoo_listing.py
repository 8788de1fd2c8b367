"""`cnntui models`: the zoo as a table or JSON, from the registry alone (no torch import)."""

from __future__ import annotations

import json

from cnntui.zoo.registry import ZOO


def models_as_records() -> list[dict[str, object]]:
    return [
        {
            "name": spec.name,
            "params": spec.params,
            "default_input": list(spec.default_input),
            "options": spec.options,
            "summary": spec.summary,
        }
        for spec in ZOO.values()
    ]


def print_models(json_output: bool = False) -> None:
    if json_output:
        print(json.dumps(models_as_records(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from cnntui.pipe_width import print_title, widen_for_pipe

    table = Table()
    table.add_column("model", style="bold")
    table.add_column("params", justify="right")
    table.add_column("input (CxHxW)")
    table.add_column("description")
    for spec in ZOO.values():
        c, h, w = spec.default_input
        table.add_row(spec.name, f"{spec.params:,}", f"{c}x{h}x{w}", spec.summary)
    console = Console()
    widen_for_pipe(console, table)
    print_title(console, "cnntui model zoo")
    console.print(table)
    console.print(
        "Also: torchvision:NAME (any torchvision classifier), module:attr or file.py:attr "
        "(your own nn.Module).",
        style="dim",
    )
