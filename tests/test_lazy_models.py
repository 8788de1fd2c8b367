"""d2l writes its nets with lazy layers (nn.LazyConv2d, nn.LazyLinear): shapes and run take them."""

from __future__ import annotations

import dataclasses

import pytest
from torch import nn

from cnntui.engine.trainer import Trainer
from cnntui.errors import UsageError
from cnntui.shapes import trace_model
from cnntui.zoo.lazy import has_lazy_parameters

LAZY_LENET = """
from torch import nn

def net():
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.LazyLinear(120), nn.Sigmoid(),
        nn.LazyLinear(84), nn.Sigmoid(),
        nn.LazyLinear(10),
    )
"""


def lazy_lenet() -> nn.Module:
    namespace: dict = {}
    exec(LAZY_LENET, namespace)
    return namespace["net"]()


def test_shapes_of_a_lazy_net_match_the_eager_one_and_leave_it_lazy() -> None:
    model = lazy_lenet()
    report = trace_model(model, (1, 1, 28, 28), model_name="lazy-lenet")
    assert report.ok
    assert report.totals.params == 61_706  # d2l's LeNet, as the zoo's eager one has
    assert [row.output_shape for row in report.leaf_rows()][-1] == (1, 10)
    assert has_lazy_parameters(model)  # the trace built a copy


def test_a_lazy_net_on_an_input_too_small_is_explained_up_to_the_failing_layer() -> None:
    """It was a usage error (exit 2) quoting torch, with no table: the promise of `shapes` is
    the table up to the failing layer and what it expected, for lazy nets as for the rest."""
    report = trace_model(lazy_lenet(), (1, 1, 3, 3), model_name="lazy-lenet")
    assert report.failure is not None
    assert report.failure.layer == "3"
    assert report.failure.explanation == (
        "Layer 3 Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1)) expects an input of at "
        "least 5x5 per channel but got 1x6x1x1."
    )
    assert [(row.type, row.output_shape) for row in report.rows[1:4]] == [
        ("Conv2d", (1, 6, 3, 3)),
        ("Sigmoid", (1, 6, 3, 3)),
        ("AvgPool2d", (1, 6, 1, 1)),
    ]
    # Both convs were built (156 + 2,416 parameters); the Linear layers never were.
    assert report.totals.params == 2_572
    assert any("no parameters yet" in note for note in report.notes)


def test_a_lazy_net_too_big_to_trace_for_real_is_a_plain_error() -> None:
    with pytest.raises(UsageError, match="lazy layers could not be built for input 200000x1x3x3"):
        trace_model(lazy_lenet(), (200_000, 1, 3, 3), model_name="lazy-lenet")


def test_a_lazy_net_from_a_file_trains(tiny_config, tmp_path) -> None:
    source = tmp_path / "lazy_lenet.py"
    source.write_text(LAZY_LENET)
    config = dataclasses.replace(tiny_config, model=f"{source}:net", epochs=1, model_options={})
    trainer = Trainer(config)
    assert trainer.run() == 0
    assert trainer.setup_done is not None
    assert sum(p.numel() for p in trainer.setup_done.model.parameters()) == 61_706


def test_a_lazy_net_that_the_images_cannot_build_is_refused_before_the_run_starts(
    tiny_config, tmp_path
) -> None:
    source = tmp_path / "lazy_lenet.py"
    source.write_text(LAZY_LENET)
    config = dataclasses.replace(
        tiny_config,
        model=f"{source}:net",
        model_options={},
        dataset="synthetic:1x3x3:10:train=64:test=16",
    )
    with pytest.raises(UsageError, match=r"Layer 3 Conv2d.* expects an input of at least 5x5"):
        Trainer(config).setup()
    assert not (tmp_path / "run").exists()  # refused before the run directory exists
