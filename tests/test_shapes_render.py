"""The rich table and the JSON document for d2l's LeNet and AlexNet (golden outputs).

Regenerate the golden files with `UPDATE_GOLDEN=1 pytest tests/test_shapes_render.py`, then read
the diff: the shapes must stay the ones D2L_NETS.md lists.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from rich.console import Console
from torch import nn

from cnntui.shapes.render import print_report, report_json
from cnntui.shapes.report import ShapeReport
from cnntui.shapes.trace import trace_model
from cnntui.zoo import build_model

GOLDEN = Path(__file__).parent / "golden"


def render(report: ShapeReport, width: int) -> str:
    """The table exactly as a terminal of `width` columns without colour shows it."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    print_report(report, console)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def assert_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 writes it instead."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def trace_zoo(name: str, shape: tuple[int, ...]) -> ShapeReport:
    built = build_model(name)
    return trace_model(built.module, shape, model_name=name, default_input=built.default_input)


@pytest.fixture(scope="module")
def lenet() -> ShapeReport:
    return trace_zoo("lenet", (1, 1, 28, 28))


@pytest.fixture(scope="module")
def alexnet() -> ShapeReport:
    return trace_zoo("alexnet", (1, 1, 224, 224))


def test_lenet_table_matches_golden(lenet: ShapeReport) -> None:
    assert_golden("shapes_lenet_120.txt", render(lenet, 120))


def test_alexnet_table_matches_golden(alexnet: ShapeReport) -> None:
    assert_golden("shapes_alexnet_120.txt", render(alexnet, 120))


def test_failure_table_matches_golden() -> None:
    report = trace_zoo("lenet", (1, 1, 32, 32))
    assert_golden("shapes_lenet_32_failure_80.txt", render(report, 80))


@pytest.fixture(scope="module")
def resnet() -> ShapeReport:
    import torchvision

    return trace_model(torchvision.models.resnet18(), (1, 3, 224, 224), model_name="resnet18")


@pytest.mark.parametrize("width", [80, 120])
def test_table_fits_the_terminal(alexnet: ShapeReport, resnet: ShapeReport, width: int) -> None:
    for report in (alexnet, resnet):
        text = render(report, width)
        assert max(len(line) for line in text.splitlines()) <= width
        # Layer names and shapes are never cut short at these widths.
        assert "…" not in "".join(text.splitlines()[:-6])


def test_the_input_column_is_left_out_only_when_the_table_would_not_fit(
    resnet: ShapeReport,
) -> None:
    # It was left out below 100 columns, so at 80 the failing Linear's row hid the 1x576 it
    # got; LeNet's whole table takes 66 columns. ResNet-18's, 86 with it, drops it at 80.
    failed = render(trace_zoo("lenet", (1, 1, 32, 32)), 80)
    assert re.search(r"✗ 7 Linear +1x576 +✗ failed", failed)
    header = next(line for line in render(resnet, 80).splitlines() if "Layer" in line)
    assert header.split() == ["Layer", "Output", "Params", "FLOPs", "k/s/p"]
    header = next(line for line in render(resnet, 86).splitlines() if "Layer" in line)
    assert header.split() == ["Layer", "Input", "Output", "Params", "FLOPs", "k/s/p"]


def test_a_report_printed_to_a_file_has_no_trailing_spaces() -> None:
    # rich padded every line to the width: at COLUMNS=200 a saved failure report was mostly
    # spaces, each line of the summary 200 columns long.
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None, highlight=False)
    print_report(trace_zoo("lenet", (1, 1, 32, 32)), console)
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith("lenet · input 1x1x32x32")
    assert "Hint --input 1x1x28x28 fits" in lines[-1]
    assert [line for line in lines if line != line.rstrip()] == []


def test_table_uses_human_units(alexnet: ShapeReport) -> None:
    text = render(alexnet, 120)
    assert "46,764,746 (46.8 M)" in text
    assert "26.2 M" in text  # Linear(6400, 4096)'s parameters


def test_collapsed_depth_shows_sums(resnet: ShapeReport) -> None:
    report = resnet.collapsed(1)
    layer1 = next(row for row in report.rows if row.name == "layer1")
    assert layer1.collapsed
    assert layer1.params == 147_968
    assert not any(row.depth > 1 for row in report.rows)
    assert "▸ layer1 Sequential" in render(report, 120)


@pytest.mark.parametrize(("depth", "container"), [(0, "▸ Sequential"), (1, "▸ 0 Sequential")])
def test_collapsed_depth_keeps_the_failing_layer(depth: int, container: str) -> None:
    # --depth hid the failing conv inside its collapsed container: no row said what failed.
    report = trace_zoo("resnet18", (1, 3, 96, 96)).collapsed(depth)
    assert [row.name for row in report.rows if row.status == "failed"] == ["0.0"]
    text = render(report, 120)
    assert container in text
    assert re.search(r"✗ 0\.0 Conv2d +1x3x96x96 +✗ failed", text)  # the whole name


def test_json_document_has_d2l_shapes(alexnet: ShapeReport) -> None:
    doc = json.loads(report_json(alexnet))
    leaves = [row for row in doc["rows"] if row["is_leaf"]]
    shapes = [
        row["output_shapes"][0][1:] for row in leaves if row["type"] not in ("ReLU", "Dropout")
    ]
    assert shapes == [
        [96, 54, 54],
        [96, 26, 26],
        [256, 26, 26],
        [256, 12, 12],
        [384, 12, 12],
        [384, 12, 12],
        [256, 12, 12],
        [256, 5, 5],
        [6400],
        [4096],
        [4096],
        [10],
    ]
    assert doc["failure"] is None
    assert doc["input_shape"] == [1, 1, 224, 224]
    assert doc["model"] == "alexnet"
    assert doc["totals"]["params"] == 46_764_746
    assert doc["totals"]["macs"] == doc["totals"]["flops"] // 2


def test_report_round_trips_through_json(lenet: ShapeReport) -> None:
    failed = trace_zoo("lenet", (1, 1, 32, 32))
    for report in (lenet, failed, lenet.collapsed(0)):
        again = ShapeReport.from_dict(json.loads(report_json(report)))
        assert again == report


def test_header_names_the_preset_and_options_the_net_came_from(lenet: ShapeReport) -> None:
    # `cnntui shapes vgg11` traces the preset's ratio-4 net: a bare "vgg11" would hide that.
    made = replace(lenet, preset="lenet", model_options={"activation": "relu"})
    assert render(made, 120).splitlines()[0] == (
        "lenet (activation=relu) from preset lenet · input 1x1x28x28 · float32 · traced on cpu"
    )
    assert ShapeReport.from_dict(json.loads(report_json(made))) == made


class TiedNet(nn.Module):
    """second.0's weight is first.0's (tied weights, as a language model ties its embedding
    and output); one ReLU runs twice, and `reused` runs twice with its own parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Sequential(nn.Linear(10, 10, bias=False))
        self.second = nn.Sequential(nn.Linear(10, 10))
        self.second[0].weight = self.first[0].weight
        self.act = nn.ReLU()
        self.reused = nn.Linear(10, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.second(self.act(self.first(x))))
        return self.reused(self.reused(x))


def params_cells(text: str) -> dict[str, list[str]]:
    """Each row's Params cell, by its layer cell; a layer that runs twice has two."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Layer"])
    column = lines[header].split().index("Params")
    cells: dict[str, list[str]] = {}
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        parts = re.split(r"\s{2,}", line.strip())
        cells.setdefault(parts[0], []).append(parts[column] if len(parts) > column else "")
    return cells


def counted(cell: str) -> int:
    """The parameters a Params cell counts: 10 for "10 + tied", none for "–" or "shared"."""
    number = re.match(r"\d+", cell)
    return int(number[0]) if number else 0


@pytest.mark.parametrize("depth", [None, 1])
def test_tied_weights_are_counted_once_in_the_params_column(depth: int | None) -> None:
    # second.0 showed first.0's 100 parameters again: the column added up to 320 and the
    # total, rightly, said 220.
    report = trace_model(TiedNet(), (1, 10)).collapsed(depth)
    assert report.totals.params == 100 + 10 + 110
    text = render(report, 120)
    cells = params_cells(text)
    assert sum(counted(cell) for column in cells.values() for cell in column) == 220
    if depth is None:
        assert cells["0 Linear"] == ["100", "10 + tied"]
    else:
        assert cells["▸ first Sequential"] == ["100"]
        assert cells["▸ second Sequential"] == ["10 + tied"]
    note = (
        "second.0 shares 100 of its 110 parameters with first.0 (tied weights): the Params "
        "column and the total count them once, at first.0."
    )
    assert re.sub(r"\s+", " ", text).count(note) == 1


def test_a_layer_that_runs_again_is_shared_only_when_it_has_parameters() -> None:
    # The ReLU that runs twice said "shared" on its second row, with nothing to share.
    cells = params_cells(render(trace_model(TiedNet(), (1, 10)), 120))
    assert cells["act ReLU"] == ["–", "–"]
    assert cells["reused Linear"] == ["110", "shared"]


def test_tied_layers_round_trip_through_json() -> None:
    report = trace_model(TiedNet(), (1, 10))
    row = next(row for row in report.rows if row.name == "second.0")
    assert (row.params, row.tied_params, row.tied_to) == (110, 100, "first.0")
    assert ShapeReport.from_dict(json.loads(report_json(report))) == report
