"""A run whose images cannot go through the model stops before it starts, in plain words."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from cnntui.engine.fit import checked_shapes
from cnntui.errors import UsageError


def test_a_resize_the_model_cannot_take_is_a_usage_error_naming_the_fix(tmp_path) -> None:
    runs = tmp_path / "runs"
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "run", "lenet", "--dataset", "synthetic", "--resize",
         "32", "--epochs", "1", "--headless", "--runs-root", str(runs)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith("cnntui: error: lenet cannot train on synthetic's 1x32x32 images")
    assert "Linear(in_features=400" in lines[0] and "576 features" in lines[0]
    assert "Images of 28x28 fit it: --resize 28." in lines
    assert "Every layer's shape: cnntui shapes lenet --input 1x1x32x32" in lines
    assert not runs.exists() or not any(runs.iterdir())  # no run directory left behind


def test_the_shapes_command_offered_builds_the_net_the_run_would() -> None:
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
    with pytest.raises(UsageError) as caught:
        checked_shapes(model, "net.py:net", None, (1, 28, 28), "fmnist", {"width": 8})
    assert "cnntui shapes net.py:net --input 1x1x28x28 -o width=8" in str(caught.value)


def test_a_model_that_wants_other_channels_says_so() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 26 * 26, 10))
    with pytest.raises(UsageError) as caught:
        checked_shapes(model, "rgbnet.py:net", None, (1, 28, 28), "fmnist")
    message = str(caught.value)
    assert message.startswith("rgbnet.py:net cannot train on fmnist's 1x28x28 images")
    assert "It takes 3-channel images and fmnist's have 1" in message


class RaisesInForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("a custom forward that the tracer cannot judge")


def test_other_failures_are_left_to_the_run_to_report() -> None:
    report = checked_shapes(RaisesInForward(), "odd.py:net", None, (1, 28, 28), "fmnist")
    assert report is None or report["failure"]["kind"] not in ("features", "channels")


def test_the_trace_leaves_the_seed_alone() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Dropout(0.5), nn.Flatten(), nn.Linear(2704, 10))
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    report = checked_shapes(model, "net", None, (1, 28, 28), "fmnist")
    assert report is not None and report["failure"] is None
    assert torch.equal(torch.rand(4), expected)


def test_a_run_of_a_model_with_five_class_scores_stops_before_it_starts(tmp_path) -> None:
    (tmp_path / "net.py").write_text(
        "from torch import nn\n"
        "def five():\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(784, 5))\n"
    )
    runs = tmp_path / "runs"
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "run", f"{tmp_path / 'net.py'}:five", "--dataset",
         "synthetic:1x28x28:10:train=64:test=16", "--epochs", "1", "--headless", "--runs-root",
         str(runs)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # It failed at step 0, exit 1, as "IndexError: Target 9 is out of bounds."
    assert out.returncode == 2, out.stderr
    assert "gives 5 class scores per image but synthetic" in out.stderr
    assert "has 10 classes: its last layer should give 10" in out.stderr
    assert not runs.exists() or not any(runs.iterdir())


def _refusal(model: nn.Module, num_classes: int = 10) -> str:
    with pytest.raises(UsageError) as caught:
        checked_shapes(model, "net.py:net", None, (1, 28, 28), "fmnist", num_classes=num_classes)
    return str(caught.value)


@pytest.mark.parametrize("outputs", [5, 100])
def test_a_model_with_another_number_of_class_scores_is_refused(outputs: int) -> None:
    # 5 failed at step 0 as "Target 9 is out of bounds"; 100 trained on logits no label names.
    message = _refusal(nn.Sequential(nn.Flatten(), nn.Linear(784, outputs)))
    assert message.startswith(
        f"net.py:net gives {outputs} class scores per image but fmnist has 10 classes: "
        "its last layer should give 10"
    )
    assert message.endswith("Every layer's shape: cnntui shapes net.py:net --input 1x1x28x28")


def test_a_model_whose_output_is_not_a_row_of_scores_is_refused() -> None:
    # The layout probe's loss raised in the set-up: a traceback, exit 1.
    message = _refusal(nn.Sequential(nn.Conv2d(1, 10, 3)))
    assert message.startswith(
        "net.py:net gives 1x10x26x26 for one image where a run needs 1x10: "
        "one row of 10 class scores per image"
    )


class ReturnsTwo(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.fc(x.flatten(1))
        return scores, scores.softmax(1)


def test_a_model_that_returns_several_tensors_is_refused() -> None:
    message = _refusal(ReturnsTwo())
    assert message.startswith(
        "net.py:net returns a tuple (1x10, 1x10), where a run needs one tensor: "
        "the class scores, batch x 10."
    )


def test_a_model_with_one_row_of_the_data_sets_class_scores_passes() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    report = checked_shapes(model, "net.py:net", None, (1, 28, 28), "fmnist", num_classes=10)
    assert report is not None and report["output_shapes"] == [[1, 10]]
