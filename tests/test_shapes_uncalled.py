"""Parameters in modules the forward never calls: counted in the total, in no row, and said so
under the table and in --json (uncalled.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_shapes_cli import run_in_process

NETS = '''
from torch import nn


class Unused(nn.Module):
    """An unused Linear head, an unused Sequential, and a spare layer inside a called block."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 10)
        self.head2 = nn.Linear(10, 5)
        self.aux = nn.Sequential(nn.Linear(10, 3), nn.ReLU())
        self.block = Block()

    def forward(self, x):
        return self.block(self.fc(x))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(10, 4)
        self.spare = nn.Linear(4, 2)

    def forward(self, x):
        return self.used(x)


class TiedSpare(nn.Module):
    """A spare head whose weight is the used layer's: only its bias is outside every row."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 10)
        self.spare = nn.Linear(12, 10)
        self.spare.weight = self.fc.weight

    def forward(self, x):
        return self.fc(x)


class FailsBeforeHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 10)
        self.head = nn.Linear(7, 2)

    def forward(self, x):
        return self.head(self.fc(x))
'''


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    path = tmp_path / "uncalled_nets.py"
    path.write_text(NETS)
    return path


def test_unused_modules_are_named_with_their_parameters_in_text_and_json(
    nets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The total said 272 and the Params column added up to 174 (fc 130, used 44), with no word
    of head2, aux or block.spare."""
    args = [f"{nets}:Unused", "--input", "1x12"]
    text = run_in_process(args, monkeypatch, capsys)
    assert text.returncode == 0, text.stdout
    assert "Parameters   272 (272)" in text.stdout
    note = (
        "98 parameters are in modules the forward never calls (in the total, with no row of "
        "their own): head2 (55), aux (33), block.spare (10)."
    )
    assert note in re.sub(r"\s+", " ", text.stdout)
    doc = json.loads(run_in_process([*args, "--json"], monkeypatch, capsys).stdout)
    assert note in doc["notes"]
    in_rows = sum(row["params"] if row["is_leaf"] else row["own_params"] for row in doc["rows"])
    assert in_rows + 98 == doc["totals"]["params"] == 272


def test_a_spare_layer_tied_to_a_used_one_counts_only_what_it_holds_alone(
    nets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_in_process([f"{nets}:TiedSpare", "--input", "1x12", "--json"], monkeypatch, capsys)
    doc = json.loads(result.stdout)
    assert doc["totals"]["params"] == 140
    assert doc["notes"] == [
        "10 parameters are in modules the forward never calls (in the total, with no row of "
        "their own): spare (10)."
    ]


def test_a_failed_forward_says_nothing_of_the_layers_it_never_reached(
    nets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_in_process(
        [f"{nets}:FailsBeforeHead", "--input", "1x12", "--json"], monkeypatch, capsys
    )
    doc = json.loads(result.stdout)
    assert result.returncode == 1 and doc["failure"]["layer"] == "head"
    assert not any("never calls" in note for note in doc["notes"])


ATTENTION_NET = '''
from torch import nn


class Attends(nn.Module):
    """MultiheadAttention passes out_proj's weight to its functional form, never calling
    out_proj; a spare head is never used at all."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.spare = nn.Linear(8, 3)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]
'''


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_a_module_whose_weights_its_caller_reads_is_not_said_to_be_unused(
    tmp_path: Path, device: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every transformer's attention (vit_b_16's twelve) was said to hold parameters in a
    module the forward never calls, out_proj, whose weights every forward uses."""
    path = tmp_path / "attention_net.py"
    path.write_text(ATTENTION_NET)
    args = [f"{path}:Attends", "--input", "1x5x8", "--device", device, "--json"]
    doc = json.loads(run_in_process(args, monkeypatch, capsys).stdout)
    assert doc["failure"] is None
    assert doc["notes"] == [
        "27 parameters are in modules the forward never calls (in the total, with no row of "
        "their own): spare (27).",
        "72 parameters are read by the forward without a call of the modules that hold them "
        "(in the total, with no row of their own): attn.out_proj (72).",
    ]
