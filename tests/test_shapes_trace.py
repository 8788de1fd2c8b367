"""trace_model on built modules: d2l shapes, totals, meta tracing, and explained failures."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnntui.errors import CnntuiError
from cnntui.shapes.report import STATUS_FAILED, STATUS_INCOMPLETE, ShapeReport
from cnntui.shapes.trace import trace_model
from cnntui.zoo import build_model


def trace_zoo(name: str, shape: tuple[int, ...], **kwargs: object) -> ShapeReport:
    built = build_model(name)
    return trace_model(
        built.module, shape, model_name=name, default_input=built.default_input, **kwargs
    )


def leaf_shapes(report: ShapeReport, skip: tuple[str, ...] = ()) -> list[tuple[int, ...]]:
    """Per-sample output shapes of the leaf layers, as d2l prints them."""
    return [row.output_shapes[0][1:] for row in report.leaf_rows() if row.type not in skip]


def test_lenet_matches_d2l() -> None:
    report = trace_zoo("lenet", (1, 1, 28, 28))
    assert leaf_shapes(report, skip=("Sigmoid",)) == [
        (6, 28, 28),
        (6, 14, 14),
        (16, 10, 10),
        (16, 5, 5),
        (400,),
        (120,),
        (84,),
        (10,),
    ]
    assert report.totals.params == 61_706
    # A small float32 input runs on real cpu tensors: faster than meta's first forward.
    assert report.ok and report.traced_on == "cpu"
    conv = report.leaf_rows()[0]
    assert (conv.kernel_size, conv.stride, conv.padding) == ((5, 5), (1, 1), (2, 2))
    # 6 output channels x 28 x 28 positions x 25 multiply-adds, two FLOPs each.
    assert conv.flops == 2 * 6 * 28 * 28 * 25


def test_d2l_resnet18_stages_on_224() -> None:
    report = trace_zoo("resnet18", (1, 1, 224, 224)).collapsed(1)
    stages = [row.output_shapes[0][1:] for row in report.rows if row.depth == 1]
    assert stages == [
        (64, 56, 56),
        (64, 56, 56),
        (128, 28, 28),
        (256, 14, 14),
        (512, 7, 7),
        (512, 1, 1),
        (512,),
        (10,),
    ]


def test_torchvision_resnet18_totals() -> None:
    import torchvision

    report = trace_model(torchvision.models.resnet18(), (1, 3, 224, 224))
    assert report.totals.params == 11_689_512
    assert report.totals.trainable_params == 11_689_512
    assert report.totals.macs == pytest.approx(1.82e9, rel=0.01)
    assert report.totals.macs == report.totals.flops // 2
    # BasicBlock calls its one ReLU twice: the second call is a row of its own.
    assert any(row.call_index == 1 and row.type == "ReLU" for row in report.rows)


def test_vgg11_big_batch_is_traced_on_meta() -> None:
    report = trace_zoo("vgg11", (64, 1, 224, 224))
    assert report.ok and report.traced_on == "meta"
    assert report.leaf_rows()[0].output_shape == (64, 64, 224, 224)
    assert report.output_shapes == ((64, 10),)
    # Over 3 GiB of activations: only a meta trace gets through this on a laptop.
    assert report.totals.activation_bytes > 3 * 2**30
    assert report.totals.peak_memory_bytes is None


def test_dtype_sets_element_sizes() -> None:
    half = trace_zoo("lenet", (1, 1, 28, 28), dtype="float16")
    assert half.dtype == "float16"
    assert half.totals.param_bytes == 61_706 * 2
    assert half.totals.input_bytes == 28 * 28 * 2


def test_the_callers_module_is_left_alone() -> None:
    model = build_model("lenet-bn").module
    before = {name: p.data_ptr() for name, p in model.named_parameters()}
    calls: list[str] = []
    model.register_forward_hook(lambda *_: calls.append("hook"))
    report = trace_model(model, (1, 1, 28, 28))
    assert report.ok
    assert model.training
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert before == {name: p.data_ptr() for name, p in model.named_parameters()}
    assert calls == []  # the caller's hooks do not run on the trace's copy


def test_failure_rows_stop_at_the_failing_layer() -> None:
    report = trace_zoo("lenet", (1, 1, 32, 32))
    assert not report.ok
    assert report.rows[-1].name == "7"
    assert report.rows[-1].status == STATUS_FAILED
    assert report.rows[0].status == STATUS_INCOMPLETE
    failure = report.failure
    assert failure is not None
    assert failure.kind == "features"
    assert failure.layer == "7"
    assert failure.layer_repr == "Linear(in_features=400, out_features=120, bias=True)"
    assert "expects 400 input features" in failure.explanation
    assert "1x576 (576 features)" in failure.explanation
    assert failure.suggested_input == (1, 1, 28, 28)
    assert "Linear(576, 120) would accept" in (failure.hint or "")


def test_wrong_batchnorm_features() -> None:
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.BatchNorm2d(16), nn.ReLU())
    failure = trace_model(model, (1, 1, 28, 28)).failure
    assert failure is not None
    assert failure.kind == "norm_features"
    assert "expects 16 channels (num_features=16) but got 1x6x24x24 (6 channels)" in (
        failure.explanation
    )
    hint = failure.hint or ""
    assert "An earlier layer of the model produces this: BatchNorm2d(6) would accept it" in hint


def test_wrong_channels_inside_the_model() -> None:
    model = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.Conv2d(8, 16, 3))
    failure = trace_model(model, (1, 1, 28, 28)).failure
    assert failure is not None
    assert failure.kind == "channels"
    assert failure.suggested_input is None  # no input fixes the model's own mistake
    assert "Conv2d(6, 16, kernel_size=(3, 3), stride=(1, 1)) would accept it" in (
        failure.hint or ""
    )


def test_rank_mismatch_suggests_the_models_input() -> None:
    built = build_model("lenet")
    report = trace_model(built.module, (1, 784), default_input=built.default_input)
    assert report.failure is not None
    assert report.failure.kind == "rank"
    assert "expects a 4-D input (NxCxHxW) but got 1x784 (2-D)" in report.failure.explanation
    assert report.failure.suggested_input == (1, 1, 28, 28)


def format_input(shape: tuple[int, ...]) -> str:
    return "--input " + "x".join(str(d) for d in shape)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("lenet5-cifar", (1, 1, 32, 32)),  # the channels are all that is wrong
        ("lenet", (1, 3, 8, 8)),  # with one channel, 8x8 is still too small
        ("alexnet", (1, 3, 32, 32)),
        ("lenet", (1, 3, 40, 40)),  # with one channel, 40x40 is too large
    ],
)
def test_a_channel_hint_suggests_an_input_that_traces(name: str, shape: tuple[int, ...]) -> None:
    failure = trace_zoo(name, shape).failure
    assert failure is not None and failure.kind == "channels"
    suggested = failure.suggested_input
    assert suggested is not None
    assert suggested[1] == build_model(name).default_input[0]
    assert format_input(suggested) in (failure.hint or "")
    assert trace_zoo(name, suggested).ok


def test_a_channel_hint_says_both_problems() -> None:
    failure = trace_zoo("lenet", (1, 3, 8, 8)).failure
    assert failure is not None
    assert failure.hint == (
        "lenet takes 1 input channel, and 1x1x8x8 is too small for it: the smallest input "
        "that works is --input 1x1x28x28 (sides 28 to 31 work)."
    )


def test_a_channel_hint_suggests_nothing_when_no_input_runs() -> None:
    # The second conv can never get its 5 channels: no input the user picks can fix that.
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(5, 4, 3))
    failure = trace_model(model, (1, 3, 8, 8)).failure
    assert failure is not None and failure.kind == "channels"
    assert failure.suggested_input is None
    assert "takes 1 input channel, and 1x1x8x8 does not run either" in (failure.hint or "")


def test_a_rank_hint_suggests_the_models_input_only_when_it_traces() -> None:
    built = build_model("lenet")
    # A default input the model does not take (as a user's wrong note would give).
    report = trace_model(built.module, (1, 784), default_input=(1, 32, 32))
    assert report.failure is not None and report.failure.kind == "rank"
    assert report.failure.suggested_input is None
    assert "1x1x32x32" not in (report.failure.hint or "")


class DataDependent(nn.Module):
    """Branches on a value, which a meta tensor does not have."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if x.mean() > 10:
            x = x * 2
        return self.fc(x)


class ConvThenDataDependent(nn.Module):
    """A first conv, then a branch on a value: the meta device cannot check any input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x).flatten(1)
        if x.mean() > 10:
            x = x * 2
        return self.fc(x)


def test_a_channel_hint_that_no_trace_can_check_claims_no_more_than_the_channels() -> None:
    failure = trace_model(ConvThenDataDependent(), (1, 3, 8, 8)).failure
    assert failure is not None and failure.kind == "channels"
    # Not "does not run either": the meta probe cannot tell, which is no evidence of a failure.
    assert failure.hint == "ConvThenDataDependent takes 1 input channel."
    assert failure.suggested_input is None


def test_small_float32_inputs_are_traced_on_real_cpu_tensors() -> None:
    report = trace_model(DataDependent(), (1, 1, 2, 2))
    assert report.ok
    assert report.traced_on == "cpu"
    assert report.notes == []


def test_a_failure_on_cpu_is_explained_from_the_cpu_trace() -> None:
    # The header says "traced on cpu" as the README promises for small inputs; only the size
    # search behind the hint runs on meta.
    report = trace_zoo("lenet", (1, 1, 32, 32))
    assert not report.ok
    assert report.traced_on == "cpu"
    assert report.failure is not None
    assert report.failure.suggested_input == (1, 1, 28, 28)


def test_meta_limits_fall_back_to_real_cpu_for_small_inputs() -> None:
    # bfloat16 is traced on meta first, so the fallback is what brings it to the cpu.
    report = trace_model(DataDependent(), (1, 1, 2, 2), dtype="bfloat16")
    assert report.ok
    assert report.traced_on == "cpu"
    assert "meta" in report.notes[0]


def test_meta_limits_with_a_big_input_are_a_clear_error() -> None:
    with pytest.raises(CnntuiError, match=r"too big .* try --input 1x1x1024x1024"):
        trace_model(DataDependent(), (64, 1, 1024, 1024))
    with pytest.raises(CnntuiError, match="use --device cpu"):
        trace_model(DataDependent(), (1, 1, 2, 2), device="meta")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_trace_measures_peak_memory() -> None:
    report = trace_zoo("alexnet", (8, 1, 224, 224), device="cuda")
    assert report.ok and report.traced_on.startswith("cuda")
    assert report.totals.peak_memory_bytes is not None
    assert report.totals.peak_memory_bytes > report.totals.param_bytes
    assert leaf_shapes(report)[-1] == (10,)


class BatchBlindView(nn.Module):
    """x.view(-1, 800) where x.view(x.size(0), -1) was meant: 800 = 8x10x10, a 12x12 input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
        self.fc = nn.Linear(800, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).view(-1, 800))


def test_a_hint_never_suggests_an_input_that_mixes_samples() -> None:
    # 28x28 gives 8x26x26 = 5408 values, not a multiple of 800: the view fails. 32x32 gives
    # 8x30x30 = 7200 = 9 x 800, so it "runs" as 9 rows for a batch of 1, and the hint offered it.
    # 22, 32 and 42 run the same way (4, 9, 16 rows); only 12x12 gives one row of 800 per sample.
    failure = trace_model(BatchBlindView(), (1, 1, 28, 28)).failure
    assert failure is not None
    assert failure.suggested_input == (1, 1, 12, 12)
    assert (failure.hint or "").startswith("--input 1x1x12x12 fits;")


def test_an_output_that_mixes_samples_gets_a_note() -> None:
    report = trace_model(BatchBlindView(), (1, 1, 32, 32))
    assert report.ok
    assert report.output_shapes == ((9, 10),)
    assert len(report.notes) == 1
    assert report.notes[0].startswith("The output 9x10 has 9 rows for a batch of 1:")
    assert "x.flatten(1)" in report.notes[0]
    # One row per sample is the norm, and a squeezed batch of 1 (a 1-D output) is left alone.
    assert trace_model(BatchBlindView(), (1, 1, 12, 12)).notes == []
    squeezed = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Flatten(0))
    assert trace_model(squeezed, (1, 1, 2, 2)).notes == []


class LastStep(nn.Module):
    """A GRU as torch makes it by default, sequence first (LxNxF), classifying its last step."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(16, 32)
        self.fc = nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gru(x)[0][-1])


def test_a_sequence_first_rnn_is_not_said_to_mix_samples() -> None:
    # 7 steps of a batch of 2 give 2 rows: the note took the 7 steps for the batch.
    report = trace_model(LastStep(), (7, 2, 16))
    assert report.ok
    assert report.output_shapes == ((2, 5),)
    assert report.notes == []


def flat_mlp() -> nn.Module:
    """A net of Linear layers with no Flatten: it takes N x 784, not images."""
    return nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))


def test_an_image_into_a_linear_is_told_to_flatten_not_resized() -> None:
    # 1x1x28x28 holds 1*28*28 = 784 values per sample, the Linear's in_features, but a Linear
    # works on the last dimension only (28). The size search used to answer "--input
    # 1x1x784x784 fits (only side 784 works)" and "Linear(28, 16) would accept", both wrong.
    failure = trace_model(flat_mlp(), (1, 1, 28, 28)).failure
    assert failure is not None and failure.kind == "features"
    assert failure.hint == (
        "1x1x28x28 holds 784 values per sample, as many as the layer takes: put nn.Flatten() "
        "before it (or x.flatten(1) in forward), or give it --input 1x784."
    )
    assert failure.suggested_input == (1, 784)
    # Deeper in the net, only the model can change: no input is offered.
    late = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Linear(4 * 26 * 26, 10))
    failure = trace_model(late, (2, 1, 28, 28)).failure
    assert failure is not None and failure.suggested_input is None
    assert failure.hint == (
        "2x4x26x26 holds 2704 values per sample, as many as the layer takes: put nn.Flatten() "
        "before it (or x.flatten(1) in forward)."
    )


def test_a_feature_count_hint_speaks_of_features_not_sides() -> None:
    failure = trace_model(flat_mlp(), (2, 100)).failure
    assert failure is not None
    assert (
        failure.hint
        == "--input 2x784 fits (only 784 features work); or Linear(100, 16) would accept 2x100."
    )


def test_sides_alone_into_a_conv_net_with_no_default_input_get_the_channels() -> None:
    # Conv2d(1, 4, 3) then 4*26*26 features: only a 28x28 image with 1 channel runs.
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    failure = trace_model(net, (28, 28)).failure
    assert failure is not None and failure.kind == "rank"
    assert failure.hint == "Sequential takes 4-D input (NxCxHxW): --input 1x1x28x28."
    assert failure.suggested_input == (1, 1, 28, 28)
    failure = trace_model(net, (30, 30)).failure
    assert failure is not None
    assert failure.hint == "Sequential takes 4-D input (NxCxHxW): --input 1x1x28x28 fits."
    assert failure.suggested_input == (1, 1, 28, 28)


@pytest.mark.parametrize(
    ("pooled", "given", "hint", "suggested"),
    [
        (False, (1, 2, 10, 10), ": --input 1x2x10.", (1, 2, 10)),  # batch, channels, last side
        (False, (1, 1, 2, 12), ": --input 1x2x10 fits.", (1, 2, 10)),  # the 1 dropped, resized
        (True, (1, 1, 2, 50), ": --input 1x2x50.", (1, 2, 50)),  # the leading 1 dropped
    ],
)
def test_a_sequence_net_given_more_dimensions_is_told_a_3d_input_that_traces(
    pooled: bool, given: tuple[int, ...], hint: str, suggested: tuple[int, ...]
) -> None:
    # "expects a 3-D input (NxCxL) but got 1x2x10x10 (4-D)", and no hint at all.
    head = [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 3)]
    if not pooled:  # only length 10 gives the Linear its 32 features
        head = [nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8, 3)]
    failure = trace_model(nn.Sequential(nn.Conv1d(2, 4, 3), *head), given).failure
    assert failure is not None and failure.kind == "rank"
    assert failure.hint == "Sequential takes 3-D input (NxCxL)" + hint
    assert failure.suggested_input == suggested


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_a_net_that_starts_with_an_embedding_is_fed_token_ids(device: str) -> None:
    """A text net was fed random floats, which nn.Embedding refuses ('Expected tensor for
    argument #1 'indices' to have one of the following scalar types: Long, Int')."""
    model = nn.Sequential(nn.Embedding(100, 16), nn.Flatten(), nn.Linear(7 * 16, 5))
    report = trace_model(model, (2, 7), device=device)
    assert report.ok, report.failure
    assert [row.output_shape for row in report.leaf_rows()] == [(2, 7, 16), (2, 112), (2, 5)]
    assert report.totals.params == 100 * 16 + 112 * 5 + 5
    assert report.totals.flops == 2 * 2 * 112 * 5
    assert report.totals.input_bytes == 2 * 7 * 8  # int64 ids
    assert any("token ids below 100" in note for note in report.notes)


def test_a_size_hint_for_an_embedding_net_speaks_of_sequence_length() -> None:
    # 2x8 token ids: the hint said "(only 7 features work)" of what is a sequence's length.
    model = nn.Sequential(nn.Embedding(50, 4), nn.Flatten(), nn.Linear(7 * 4, 3))
    failure = trace_model(model, (2, 8)).failure
    assert failure is not None
    assert failure.hint == (
        "--input 2x7 fits (only sequences of 7 tokens work); or Linear(32, 3) would accept 2x8."
    )
    assert failure.suggested_input == (2, 7)


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(10, 2)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fc(x + y)


def test_a_forward_that_takes_two_inputs_is_told_how_to_trace_it() -> None:
    # It ended with torch's "forward() missing 1 required positional argument: 'y'" alone.
    failure = trace_model(TwoInputs(), (1, 10)).failure
    assert failure is not None
    assert failure.hint == (
        "TwoInputs.forward takes 2 inputs (x, y) and cnntui traces one tensor: point it at a "
        "module whose forward(x) makes the others and calls this one."
    )


def test_an_mlp_given_other_channels_is_pointed_at_its_own_input() -> None:
    # 3 channels: no square side gives 784 features, and the hint offered only a new Linear.
    # The two ways out read "; or" as in every other hint (it was "fits; Linear(...) would").
    failure = trace_zoo("mlp", (1, 3, 28, 28)).failure
    assert failure is not None
    assert failure.suggested_input == (1, 1, 28, 28)
    assert failure.hint == "--input 1x1x28x28 fits; or Linear(2352, 300) would accept 1x3x28x28."


class ReturnsScoresAndFeatures(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.fc(x.flatten(1)), "features": x.flatten(1)}


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_what_a_forward_returned_is_kept_when_it_is_not_one_tensor(device: str) -> None:
    # A run's check of what its model returns reads it here, not from a forward of its own.
    report = trace_model(ReturnsScoresAndFeatures(), (1, 1, 28, 28), device=device)
    assert report.ok and report.traced_on == device
    assert report.returned == "a dict {'logits': 1x10, 'features': 1x784}"
    assert report.output_shapes == ((1, 10), (1, 784))
    # `cnntui shapes --json` says what it said before: its tensors' shapes, nothing more.
    assert "returned" not in report.to_dict()
    assert trace_zoo("lenet", (1, 1, 28, 28)).returned is None
