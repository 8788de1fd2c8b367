"""Sequences or an image: `--input` is read for the layer the forward feeds first, not the first
one declared (layout.py), and the batch is found the same way (contracts.batch_dim)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_shapes_cli import run_in_process
from torch import nn

from cnntui.shapes.layout import reads_as_sequences

NETS = '''
import torch
from torch import nn


class ConvHeadDeclaredFirst(nn.Module):
    """Its forward starts with the LSTM; the Conv2d it declares first comes after."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.rnn = nn.LSTM(4, 6, batch_first=True)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.conv(out.unsqueeze(1))


class Crnn(nn.Module):
    """A CRNN that declares its GRU before the Conv2d its forward starts with."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 4, batch_first=True)
        self.conv = nn.Conv2d(2, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        n, c, h, w = y.shape
        out, _ = self.rnn(y.permute(0, 2, 3, 1).reshape(n, h * w, c))
        return out


class TextCnn(nn.Module):
    """Token ids into an embedding, then a Conv1d over the sequence."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.conv = nn.Conv1d(8, 4, 3)

    def forward(self, x):
        return self.conv(self.emb(x).transpose(1, 2))


class EncoderDecoder(nn.Module):
    """Declares a sequence-first GRU, used second, before the batch-first LSTM its input meets."""

    def __init__(self):
        super().__init__()
        self.dec = nn.GRU(8, 8)
        self.enc = nn.LSTM(4, 8, batch_first=True)

    def forward(self, x):
        out, _ = self.enc(x)
        out, _ = self.dec(out.transpose(0, 1))
        return out[-1]


class SequenceFirst(nn.Module):
    """torch's default LSTM, LxNxF in and LxNxH out: the batch stays second."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(16, 32)

    def forward(self, x):
        return self.rnn(x)[0]


class Attention(nn.Module):
    """A transformer encoder over NxLxF, then a class head on the mean of its steps."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


class SequenceFirstAttention(nn.Module):
    """torch's default attention, LxNxE in and out."""

    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 2)

    def forward(self, x):
        return self.attention(x, x, x)[0]
'''


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    path = tmp_path / "layout_nets.py"
    path.write_text(NETS)
    return path


def shapes_json(
    nets: Path,
    net: str,
    input_text: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, dict]:
    result = run_in_process([f"{nets}:{net}", "--input", input_text, "--json"], monkeypatch, capsys)
    return result.returncode, json.loads(result.stdout)


def test_a_net_that_declares_its_conv_first_but_starts_with_an_lstm_takes_sequences(
    nets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """2x5x4 was read as one 2x5x4 image (1x2x5x4), which the LSTM refused: 'Expected input
    to be 2D or 3D, got 4D'."""
    code, doc = shapes_json(nets, "ConvHeadDeclaredFirst", "2x5x4", monkeypatch, capsys)
    assert code == 0, doc["failure"]
    assert doc["input_shape"] == [2, 5, 4]
    assert doc["output_shapes"] == [[2, 2, 5, 6]]


def test_a_crnn_that_declares_its_gru_first_takes_an_image(
    nets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """2x5x6 was read as 2 sequences (its GRU is declared first), and the forward failed
    unpacking the Conv2d's 3-D output: 'not enough values to unpack (expected 4, got 3)'."""
    code, doc = shapes_json(nets, "Crnn", "2x5x6", monkeypatch, capsys)
    assert code == 0, doc["failure"]
    assert doc["input_shape"] == [1, 2, 5, 6]
    assert [row["output_shapes"][0] for row in doc["rows"][1:]] == [[1, 4, 5, 6], [1, 30, 4]]


def test_a_text_cnn_takes_two_sizes_as_its_whole_batch_of_token_ids(
    nets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its Conv1d made 2x7 a CxL sequence of batch 1: ids 1x2x7, embedded to 1x2x7x8, which
    the Conv1d refused as 4-D."""
    code, doc = shapes_json(nets, "TextCnn", "2x7", monkeypatch, capsys)
    assert code == 0, doc["failure"]
    assert doc["input_shape"] == [2, 7]
    assert doc["output_shapes"] == [[2, 4, 5]]
    assert doc["totals"]["input_bytes"] == 2 * 7 * 8  # int64 token ids


def test_the_batch_is_where_the_first_recurrent_layer_called_has_it(
    nets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sequence-first GRU declared first put the batch of 2x7x4 at 7, and the 2x8 output
    was said to mix samples ('has 2 rows for a batch of 7')."""
    code, doc = shapes_json(nets, "EncoderDecoder", "2x7x4", monkeypatch, capsys)
    assert code == 0, doc["failure"]
    assert doc["output_shapes"] == [[2, 8]]
    assert not any("mixes samples" in note for note in doc["notes"])


def test_a_sequence_first_output_keeps_its_batch_second_without_mixing_samples(
    nets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """7x2x16 into an LSTM without batch_first is 2 sequences of 7 steps, and its 7x2x32
    output was said to mix them ('has 7 rows for a batch of 2'): only its first dimension
    was compared with the batch."""
    code, doc = shapes_json(nets, "SequenceFirst", "7x2x16", monkeypatch, capsys)
    assert code == 0, doc["failure"]
    assert doc["output_shapes"] == [[7, 2, 32]]
    assert not any("mixes samples" in note for note in doc["notes"])


def test_a_transformer_takes_three_sizes_as_a_batch_of_sequences(
    nets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """2x5x16 was read as one 2x5x16 image (1x2x5x16), which the attention layer refused as
    4-D: only conv, pool and recurrent layers said how an input is laid out."""
    code, doc = shapes_json(nets, "Attention", "2x5x16", monkeypatch, capsys)
    assert code == 0, doc["failure"]
    assert doc["input_shape"] == [2, 5, 16]
    assert doc["output_shapes"] == [[2, 10]]
    code, doc = shapes_json(nets, "SequenceFirstAttention", "5x2x16", monkeypatch, capsys)
    assert code == 0, doc["failure"]
    assert doc["output_shapes"] == [[5, 2, 16]]
    assert not any("mixes samples" in note for note in doc["notes"])


def test_a_forward_that_reaches_no_layer_falls_back_to_the_first_declared() -> None:
    class Refuses(nn.Module):
        def __init__(self, first: nn.Module, second: nn.Module) -> None:
            super().__init__()
            self.first, self.second = first, second

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("no forward to follow")

    lstm, conv = nn.LSTM(4, 4), nn.Conv2d(1, 1, 3)
    assert reads_as_sequences(Refuses(lstm, conv), (2, 5, 4), (1, 2, 5, 4))
    assert not reads_as_sequences(Refuses(conv, lstm), (2, 5, 4), (1, 2, 5, 4))


def test_the_probe_leaves_the_model_as_it_was() -> None:
    """It runs a copy in eval mode: no hooks left, no running statistics moved."""

    class NormedRnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Conv2d(1, 1, 1)
            self.norm = nn.BatchNorm1d(5)
            self.rnn = nn.LSTM(4, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(self.norm(x))[0].unsqueeze(1))

    model = NormedRnn().train()
    assert reads_as_sequences(model, (2, 5, 4), (1, 2, 5, 4))
    assert model.training
    assert int(model.norm.num_batches_tracked) == 0
    assert all(not module._forward_pre_hooks for module in model.modules())
