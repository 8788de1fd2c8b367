"""`cnntui presets`: the bundled recipes as a table or JSON."""

from __future__ import annotations

import json

from cnntui.config import list_presets, read_preset


def presets_as_records() -> list[dict[str, object]]:
    records = []
    for name, path in list_presets().items():
        data = read_preset(path)
        records.append(
            {
                "name": name,
                "model": data.get("model"),
                "dataset": data.get("dataset"),
                "resize": data.get("resize"),  # the image side the recipe trains at, if resized
                "epochs": data.get("epochs"),
                "batch_size": data.get("batch_size"),
                "optimizer": data.get("optimizer"),
                "lr": data.get("lr"),
                "description": data.get("description", ""),
                "path": str(path),
            }
        )
    return records


def print_presets(json_output: bool = False) -> None:
    records = presets_as_records()
    if json_output:
        print(json.dumps(records, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from cnntui.pipe_width import print_title

    table = Table()
    # "optim", not "optimizer": the table fits 80 columns with the image sizes in "data".
    for column in ("preset", "model", "data", "epochs", "batch", "optim", "lr"):
        table.add_column(column, justify="right" if column in ("epochs", "batch", "lr") else "left")
    for r in records:
        table.add_row(
            str(r["name"]),
            str(r["model"]),
            f"{r['dataset']}@{r['resize']}" if r["resize"] else str(r["dataset"]),
            str(r["epochs"]),
            str(r["batch_size"]),
            str(r["optimizer"]),
            f"{r['lr']:g}",
        )
    console = Console()
    print_title(console, "cnntui presets")
    console.print(table)
    console.print("Run one with `cnntui run NAME`; flags override its values.", style="dim")
