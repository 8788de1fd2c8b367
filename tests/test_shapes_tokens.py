"""Token ids or floats: decided by the layer the forward feeds its input to, not the first one
declared (tokens.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnntui.shapes.tokens import token_vocabulary
from cnntui.shapes.trace import trace_model


class PositionalNet(nn.Module):
    """Floats in; its positions' embedding is declared first but fed torch.arange."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Embedding(16, 8)
        self.proj = nn.Linear(4, 8)
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x) + self.pos(torch.arange(x.shape[1], device=x.device))
        return self.head(h.mean(1))


class HeadFirstNet(nn.Module):
    """Token ids in; its head is declared before the embedding the input goes into."""

    def __init__(self, length: int = 7) -> None:
        super().__init__()
        self.head = nn.Linear(length * 4, 3)
        self.emb = nn.Embedding(50, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(x).flatten(1))


class CastingNet(nn.Module):
    """Casts its input before the embedding: no leaf gets the input itself."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(30, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.emb(x.long())


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_a_positional_embedding_declared_first_does_not_make_the_input_token_ids(
    device: str,
) -> None:
    """The net got random int64 ids because its first declared leaf is an Embedding, and failed
    in proj on 'mat1 and mat2 must have the same dtype, but got Long and Float'."""
    report = trace_model(PositionalNet(), (2, 5, 4), device=device)
    assert report.ok, report.failure
    assert [(row.name, row.output_shape) for row in report.leaf_rows()] == [
        ("proj", (2, 5, 8)),
        ("pos", (5, 8)),
        ("head", (2, 10)),
    ]
    assert report.totals.input_bytes == 2 * 5 * 4 * 4  # float32, not int64 ids
    assert not any("token ids" in note for note in report.notes)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_an_embedding_declared_after_its_head_still_gets_token_ids(device: str) -> None:
    report = trace_model(HeadFirstNet(), (2, 7), device=device)
    assert report.ok, report.failure
    assert [row.output_shape for row in report.leaf_rows()] == [(2, 7, 4), (2, 3)]
    assert report.totals.input_bytes == 2 * 7 * 8  # int64 ids
    assert any("token ids below 50" in note for note in report.notes)


def test_the_size_hint_of_an_embedding_declared_after_its_head_speaks_of_tokens() -> None:
    """The size search and the hint use the trace's answer, not the declaration order."""
    failure = trace_model(HeadFirstNet(), (2, 8)).failure
    assert failure is not None
    assert failure.hint == (
        "--input 2x7 fits (only sequences of 7 tokens work); or Linear(32, 3) would accept 2x8."
    )
    assert failure.suggested_input == (2, 7)


def test_a_forward_that_casts_its_input_first_falls_back_to_the_declared_order() -> None:
    assert token_vocabulary(CastingNet(), torch.randn(2, 5)) == 30
    report = trace_model(CastingNet(), (2, 5))
    assert report.ok, report.failure
    assert any("token ids below 30" in note for note in report.notes)


def test_the_probe_leaves_no_hooks_behind() -> None:
    model = PositionalNet()
    assert token_vocabulary(model, torch.randn(2, 5, 4)) is None
    assert all(not module._forward_pre_hooks for module in model.modules())


def test_the_probe_stops_at_the_first_layer_fed_floats() -> None:
    """A forward that reshapes its input first (d2l's MLPs) is not run whole by the probe."""

    class ReshapingNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = nn.Linear(12, 6)
            self.out = nn.Linear(6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.hidden(x.reshape(-1, 12)))

    model = ReshapingNet()
    reached: list[str] = []
    model.out.register_forward_pre_hook(lambda module, args: reached.append("out"))
    assert token_vocabulary(model, torch.randn(2, 3, 4)) is None
    assert reached == []
