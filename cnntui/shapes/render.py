"""Two renderings of a ShapeReport: a rich table for people and a JSON document for scripts."""

from __future__ import annotations

import json
import re

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from cnntui.shapes.report import STATUS_FAILED, STATUS_INCOMPLETE, Geometry, LayerRow, ShapeReport
from cnntui.shapes.units import format_shape, format_shapes, human_bytes, human_count

UNLIMITED = 10_000  # columns: more than any table of layers takes

TOTALS_NOTE = (
    "FLOPs count convolutions and matrix products (torch FlopCounterMode); MACs = FLOPs/2. "
    "Activations add up every layer's output, computed from shapes on any device. "
    "k/s/p: kernel/stride/padding."
)


_NUMBER_LIST = re.compile(r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]")
_SHAPE_LIST = re.compile(r"\[\s*(\[[\d, ]*\](?:,\s*\[[\d, ]*\])*)\s*\]")


def report_json(report: ShapeReport) -> str:
    """The report as one JSON document, exact numbers; shapes kept on one line each."""
    text = json.dumps(report.to_dict(), indent=2)
    # indent=2 would put every dimension of every shape on its own line.
    text = _NUMBER_LIST.sub(lambda m: "[" + ", ".join(re.split(r",\s*", m[1])) + "]", text)
    return _SHAPE_LIST.sub(lambda m: "[" + ", ".join(re.split(r",\s*(?=\[)", m[1])) + "]", text)


def print_report(report: ShapeReport, console: Console) -> None:
    """Print the table, the totals and, when the forward failed, what went wrong."""
    renderable = report_renderable(report, console)
    if console.is_terminal:
        console.print(renderable)
        return
    # A file or a pipe: rich pads every line with spaces to the console's width (80, or
    # $COLUMNS), which a saved report would carry as trailing whitespace.
    with console.capture() as captured:
        console.print(renderable)
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def report_renderable(report: ShapeReport, console: Console) -> RenderableType:
    """The whole human rendering as one rich renderable, laid out for the console's width."""
    parts: list[RenderableType] = [
        title_text(report),
        fitting_layer_table(report, console),
        totals_grid(report),
    ]
    parts.extend(Text(note, style="dim") for note in report.notes)
    if report.failure is not None:
        parts.append(failure_text(report))
    return Group(*parts)


def title_text(report: ShapeReport) -> Text:
    """What was traced: model, input, dtype and where the tensors lived."""
    return Text(
        f"{model_label(report)} · input {format_shape(report.input_shape)} · {report.dtype}"
        f" · traced on {report.traced_on}",
        style="bold",
    )


def model_label(report: ShapeReport) -> str:
    """The model with the options and preset it was built from: `vgg11 (ratio=4) from preset
    vgg11`. A bare name would hide that the net differs from the model's defaults."""
    label = report.model
    if report.model_options:
        label += " (" + ", ".join(f"{k}={v}" for k, v in report.model_options.items()) + ")"
    if report.preset is not None:
        label += f" from preset {report.preset}"
    return label


def fitting_layer_table(report: ShapeReport, console: Console) -> Table:
    """The layer table with the Input column when the whole of it fits the console, else
    without: the failing layer's input is what a shape error is about, so it stays whenever
    there is room (LeNet's table takes 66 columns with it), not only on wide terminals."""
    wide = layer_table(report, wide=True)
    # Measured without a width limit: a measurement never exceeds the width it is given.
    unlimited = console.options.update_width(UNLIMITED)
    if Measurement.get(console, unlimited, wide).maximum <= console.width:
        return wide
    return layer_table(report, wide=False)


def layer_table(report: ShapeReport, wide: bool) -> Table:
    """One row per layer call, indented by depth, the failing layer marked in red."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    table.add_column("Layer", no_wrap=True, overflow="ellipsis", min_width=12)
    if wide:
        table.add_column("Input", no_wrap=True, overflow="ellipsis")
    table.add_column("Output", no_wrap=True, overflow="ellipsis")
    table.add_column("Params", justify="right", no_wrap=True)
    table.add_column("FLOPs", justify="right", no_wrap=True)
    table.add_column("k/s/p", no_wrap=True)
    for row in report.rows:
        # A failing layer below --depth is shown under its collapsed container: by its whole
        # name, since the containers between are hidden.
        hidden = report.depth is not None and row.depth > report.depth
        cells: list[RenderableType] = [_layer_cell(row, row.name if hidden else row.local_name)]
        if wide:
            cells.append(format_shapes(row.input_shapes))
        cells.extend([_output_cell(row), _params_cell(row), _flops_cell(row), _geometry_cell(row)])
        table.add_row(*cells, style=_row_style(row))
    return table


def totals_grid(report: ShapeReport) -> Table:
    """Parameters, compute and memory for the whole model."""
    totals = report.totals
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row(
        "Parameters",
        f"{totals.params:,} ({human_count(totals.params)}): "
        f"{totals.trainable_params:,} trainable, {totals.frozen_params:,} frozen",
    )
    upto = ", up to the failure" if report.failure else ""
    grid.add_row(
        "Compute",
        f"{human_count(totals.flops)} FLOPs, {human_count(totals.macs)} MACs per forward{upto}",
    )
    weights = f"{human_bytes(totals.param_bytes)} of parameters"
    if totals.buffer_bytes:
        weights += f" + {human_bytes(totals.buffer_bytes)} of buffers"
    grid.add_row("Weights", f"{weights} ({report.dtype})")
    grid.add_row(
        "Activations",
        f"{human_bytes(totals.activation_bytes)} of layer outputs per forward"
        f" · input {human_bytes(totals.input_bytes)}",
    )
    peak: str | Text
    if totals.peak_memory_bytes is not None:
        peak = f"{human_bytes(totals.peak_memory_bytes)} on {report.traced_on} (forward, no grad)"
    else:
        peak = Text("measured only with --device cuda", style="dim")
    grid.add_row("Peak memory", peak)
    grid.add_row("", Text(TOTALS_NOTE, style="dim"))
    return grid


def failure_text(report: ShapeReport) -> Table:
    """The explanation of a failed forward, and the hint when there is one."""
    failure = report.failure
    assert failure is not None
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(Text("✗", style="bold red"), Text(failure.explanation, style="red"))
    if failure.hint:
        grid.add_row(Text("Hint", style="bold yellow"), failure.hint)
    return grid


def _layer_cell(row: LayerRow, name: str) -> Text:
    text = Text("  " * row.depth)
    if row.status == STATUS_FAILED:
        text.append("✗ ", style="bold red")
    elif row.collapsed:
        text.append("▸ ", style="dim")
    if row.name:
        text.append(name + " ", style="cyan" if row.status != STATUS_FAILED else None)
    text.append(row.type)
    return text


def _output_cell(row: LayerRow) -> Text:
    if row.status == STATUS_FAILED:
        return Text("✗ failed", style="bold red")
    if row.status == STATUS_INCOMPLETE:
        return Text("…", style="dim")
    return Text(format_shapes(row.output_shapes))


def _params_cell(row: LayerRow) -> Text:
    whole = row.is_leaf or row.collapsed  # its whole subtree, else only its own parameters
    held, tied = (row.params, row.tied_params) if whole else (row.own_params, row.own_tied_params)
    if row.call_index > 0 and held:
        # Counted at the module's first call. A layer without parameters (a ReLU that runs
        # twice) has nothing to share: it reads as any such layer.
        return Text("shared", style="dim")
    if tied:
        # Tied weights, counted at an earlier layer as the total counts them: once.
        if held == tied:
            return Text(f"tied to {row.tied_to}", style="dim")
        return Text(human_count(held - tied)).append(" + tied", style="dim")
    if whole:
        return _count(held)
    return _count(held) if held else Text("")


def _flops_cell(row: LayerRow) -> Text:
    if row.flops is None or not (row.is_leaf or row.collapsed):
        return Text("")
    return _count(row.flops)


def _count(value: int) -> Text:
    return Text(human_count(value)) if value else Text("–", style="dim")


def _geometry_cell(row: LayerRow) -> str:
    if row.kernel_size is None:
        return ""
    return "/".join(_geometry(g) for g in (row.kernel_size, row.stride, row.padding))


def _geometry(value: Geometry) -> str:
    if value is None:
        return "?"
    if isinstance(value, str):
        return value
    return str(value[0]) if len(set(value)) == 1 else "x".join(str(v) for v in value)


def _row_style(row: LayerRow) -> str | None:
    if row.status == STATUS_FAILED:
        return "red"
    return "dim" if row.status == STATUS_INCOMPLETE else None
