"""FLOPs from the layers' formulas equal torch's FlopCounterMode, which they stand in for.

FlopCounterMode imports torch._dynamo (about 2 s), so `cnntui shapes` counts FLOPs in module
hooks and keeps FlopCounterMode for forwards the formulas cannot see; these tests hold the two to
the same numbers, call by call.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from cnntui.shapes.flops import has_formula
from cnntui.shapes.forward import RecordedForward, run_recorded
from cnntui.shapes.placement import make_input, placed_copy
from cnntui.shapes.trace import trace_model
from cnntui.zoo import build_model
from cnntui.zoo.registry import ZOO

CPU = torch.device("cpu")


def both_ways(model: nn.Module, shape: tuple[int, ...]) -> tuple[RecordedForward, RecordedForward]:
    """The default count and FlopCounterMode's, on real cpu tensors."""
    model = placed_copy(model, CPU, torch.float32)
    x = make_input(shape, CPU, torch.float32)
    return run_recorded(model, x), run_recorded(model, x, formulas=False)


def assert_same_flops(counted: RecordedForward, reference: RecordedForward) -> None:
    assert reference.flops_from == "FlopCounterMode"
    assert counted.ok and reference.ok
    assert counted.flops == reference.flops
    assert [(c.name, c.flops) for c in counted.calls] == [
        (c.name, c.flops) for c in reference.calls
    ]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_formulas_match_flop_counter_mode_on_the_zoo(name: str) -> None:
    with torch.device("meta"):
        model = build_model(name).module
    counted, reference = both_ways(model, (2, *ZOO[name].default_input))
    assert counted.flops_from == "formulas"
    assert counted.flops > 0
    assert_same_flops(counted, reference)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (nn.Conv1d(3, 8, 5, stride=2, padding=1), (2, 3, 40)),
        (nn.Conv2d(4, 8, 3, groups=2, dilation=2, bias=False), (1, 4, 17, 19)),
        (nn.Conv2d(3, 6, 3, padding="same", padding_mode="reflect"), (1, 3, 10, 10)),
        (nn.Conv2d(3, 6, (3, 5), stride=(2, 1)), (3, 12, 12)),  # unbatched
        (nn.Conv3d(2, 4, 3, padding=1), (1, 2, 6, 7, 8)),
        (nn.ConvTranspose1d(4, 2, 3, stride=2, output_padding=1), (2, 4, 9)),
        (nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1, groups=2), (1, 6, 7, 7)),
        (nn.ConvTranspose3d(2, 3, 2, stride=2, dilation=2), (1, 2, 3, 4, 5)),
        (nn.Linear(12, 5), (12,)),
        (nn.Linear(12, 5, bias=False), (3, 12)),
        (nn.Linear(12, 5), (2, 7, 12)),
        (nn.Linear(12, 5), (2, 3, 4, 12)),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, nn.Module) else str(value),
)
def test_formulas_match_for_conv_and_linear_variants(
    layer: nn.Module, shape: tuple[int, ...]
) -> None:
    counted, reference = both_ways(nn.Sequential(layer, nn.ReLU()), shape)
    assert counted.flops_from == "formulas"
    assert_same_flops(counted, reference)


class MatmulHead(nn.Module):
    """A container that multiplies by its own weight: compute no module hook sees."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.proj = nn.Parameter(torch.randn(4, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv(x)).mean((2, 3))
        return y @ self.proj


class FunctionalConv(nn.Module):
    """A leaf of an unknown type that convolves through F.conv2d."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 1, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, padding=1)


class Gram(nn.Module):
    """A parametrization with a matrix product of its own."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight @ weight.T


def parametrized_linear() -> nn.Module:
    layer = nn.Linear(6, 6)
    parametrize.register_parametrization(layer, "weight", Gram())
    return nn.Sequential(nn.Flatten(), layer)


def replaced_forward() -> nn.Module:
    conv = nn.Conv2d(1, 2, 3)
    conv.forward = lambda x: F.conv2d(x, conv.weight).matmul(torch.ones(26, 26))  # type: ignore[method-assign]
    return nn.Sequential(conv)


class Attention(nn.Module):
    """Self-attention written out: its two batched products belong to no layer."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        weights = torch.softmax(q @ k.transpose(1, 2) / 8**0.5, dim=-1)
        return torch.bmm(weights, v)


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (MatmulHead, (2, 1, 8, 8)),
        (lambda: nn.Sequential(FunctionalConv(), nn.ReLU()), (1, 1, 8, 8)),
        (parametrized_linear, (2, 1, 2, 3)),
        (replaced_forward, (1, 1, 28, 28)),
        (Attention, (2, 5, 8)),
    ],
    ids=[
        "matmul-in-container",
        "functional-conv",
        "parametrization",
        "replaced-forward",
        "attention",
    ],
)
def test_custom_compute_falls_back_to_flop_counter_mode(
    build: type[nn.Module], shape: tuple[int, ...]
) -> None:
    counted, reference = both_ways(build(), shape)
    assert counted.flops_from == "FlopCounterMode"
    assert_same_flops(counted, reference)
    # The compute that no formula covers is in the count.
    by_formula = sum(c.flops or 0 for c in counted.calls if has_formula(c.module))
    assert counted.flops > by_formula


@pytest.mark.parametrize("name", sorted(ZOO))
def test_cpu_and_meta_traces_give_the_same_report(name: str) -> None:
    built = build_model(name)
    shape = (1, *ZOO[name].default_input)
    real = trace_model(built.module, shape, model_name=name)
    meta = trace_model(built.module, shape, device="meta", model_name=name)
    assert (real.traced_on, meta.traced_on) == ("cpu", "meta")
    assert real.rows == meta.rows
    assert real.totals == meta.totals


def test_shapes_command_does_not_import_dynamo() -> None:
    """The common path stays off torch._dynamo and FlopCounterMode's own imports."""
    script = (
        "import json, sys\nfrom cnntui.cli import app\n"
        "sys.argv = ['cnntui', 'shapes', 'alexnet', '--input', '1x1x224x224']\n"
        "try:\n    app()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print(json.dumps([code, sorted(sys.modules)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    code, modules = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert "traced on cpu" in out
    assert "torch._dynamo" not in modules
    assert "torch.utils.flop_counter" not in modules


class TorchAttention(nn.Module):
    """nn.MultiheadAttention as ViTs use it: 8 dims, 2 heads, self-attention on 4 tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class FusedAttention(nn.Module):
    """F.scaled_dot_product_attention on 2 heads of 4 tokens of 8 dims."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(x, x, x)


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize(
    ("build", "shape", "flops"),
    [
        # in_proj 4 tokens x 8 x 24 = 768 MACs, q @ k^T 2 heads x 4 x 4 x 4 = 128, weights @ v
        # 128, out_proj 4 x 8 x 8 = 256: 1280 MACs, 2560 FLOPs. On the cpu it was 0: the
        # eval-mode fast path is one fused call that FlopCounterMode cannot see.
        (TorchAttention, (1, 4, 8), 2560),
        # q @ k^T 2 heads x 4 x 4 x 8 = 256 MACs and weights @ v 256: 1024 FLOPs. On the cpu it
        # was 0: the cpu flash kernel has no FlopCounterMode formula.
        (FusedAttention, (1, 2, 4, 8), 1024),
    ],
    ids=["multihead-attention", "scaled-dot-product"],
)
def test_attention_is_counted_on_every_device(
    build: type[nn.Module], shape: tuple[int, ...], flops: int, device: str
) -> None:
    report = trace_model(build(), shape, device=device)
    assert report.ok
    assert report.traced_on == device
    assert report.totals.flops == flops
    assert report.totals.macs == flops // 2
    # The fast path is switched off for the count only.
    assert torch.backends.mha.get_fastpath_enabled()


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_an_lstm_is_counted_on_every_device(device: str) -> None:
    # Per step, the gates of 2 sequences: 2 * 2 * (16 + 32) inputs * 128 gate outputs = 24,576
    # FLOPs, over 7 steps. On the cpu it was 0: oneDNN's LSTM kernel has no formula.
    report = trace_model(nn.LSTM(16, 32, batch_first=True), (2, 7, 16), device=device)
    assert report.ok
    assert report.traced_on == device
    assert report.totals.flops == 7 * 2 * 2 * (16 + 32) * 128
    assert torch.backends.mkldnn.enabled  # switched off for the count only
