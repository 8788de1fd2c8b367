"""A model whose forward returns anything but one tensor of class scores, in eval mode or
while training, is refused before the run starts, in plain words."""

from __future__ import annotations

import collections
from typing import ClassVar

import pytest
import torch
from cnntui_command import cnntui
from torch import nn

from cnntui.engine.fit import checked_shapes
from cnntui.errors import UsageError
from cnntui.shapes.returned import describe


class ReturnsDict(nn.Module):
    """Segmentation- and Hugging Face-style: the scores under a key."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.fc(x.flatten(1))}


class TupleWhileTraining(nn.Module):
    """GoogLeNet's habit: an auxiliary output while training, the scores alone in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self.aux = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        scores = self.fc(x.flatten(1))
        return (scores, self.aux(x.flatten(1))) if self.training else scores


def _refusal(model: nn.Module) -> str:
    with pytest.raises(UsageError) as caught:
        checked_shapes(model, "net.py:net", None, (1, 28, 28), "fmnist", num_classes=10)
    return str(caught.value)


def test_a_model_that_returns_a_dict_is_refused_naming_what_it_returned() -> None:
    # Its one tensor has the shapes of class scores: it passed the check and failed at step 0
    # with "cross_entropy_loss(): argument 'input' (position 1) must be Tensor, not dict".
    assert _refusal(ReturnsDict()) == (
        "net.py:net returns a dict {'logits': 1x10}, where a run needs one tensor: the class "
        "scores, batch x 10. Make its forward return the class scores alone (a wrapper module can)."
    )


def test_a_model_that_returns_a_tuple_only_while_training_is_refused() -> None:
    # The shape check's trace runs in eval mode, where it returns a tensor: step 0 failed with
    # "must be Tensor, not tuple".
    assert _refusal(TupleWhileTraining()).startswith(
        "net.py:net returns a tuple (2x10, 2x10) while training (a tensor in eval mode), "
        "where a run needs one tensor: the class scores, batch x 10."
    )


def test_torchvision_googlenet_says_what_it_returns_and_the_option() -> None:
    from cnntui.zoo.external import build_torchvision

    model = build_torchvision("googlenet", 10, {})
    with pytest.raises(UsageError) as caught:
        checked_shapes(model, "torchvision:googlenet", None, (3, 64, 64), "x", num_classes=10)
    message = str(caught.value)
    assert message.startswith(
        "torchvision:googlenet returns GoogLeNetOutputs(logits=2x10, aux_logits2=2x10, "
        "aux_logits1=2x10) while training (a tensor in eval mode)"
    )
    assert message.endswith("(aux_logits=True), and a run trains on the class scores alone: "
                            "-o aux_logits=false")  # fmt: skip
    quiet = build_torchvision("googlenet", 10, {"aux_logits": False})
    assert checked_shapes(quiet, "torchvision:googlenet", None, (3, 64, 64), "x", num_classes=10)


def test_torchvision_inception_v3_that_cannot_train_on_the_images_is_told_the_option() -> None:
    """Below 299 px its auxiliary classifier raises while training, so what it returns could
    not be seen: the check passed it, and the set-up's train-mode forward failed with a
    traceback ("Output size is too small") where `-o aux_logits=false` trains it."""
    from cnntui.zoo.external import build_torchvision

    model = build_torchvision("inception_v3", 10, {})
    with pytest.raises(UsageError) as caught:
        checked_shapes(model, "torchvision:inception_v3", None, (3, 224, 224), "x", num_classes=10)
    assert str(caught.value) == (
        "torchvision:inception_v3 returns its auxiliary classifiers' outputs with the class "
        "scores while training (aux_logits=True), and a run trains on the class scores alone: "
        "-o aux_logits=false"
    )
    quiet = build_torchvision("inception_v3", 10, {"aux_logits": False})
    assert checked_shapes(
        quiet, "torchvision:inception_v3", None, (3, 224, 224), "x", num_classes=10
    )


class CountsForwards(nn.Module):
    """Lists the mode of each forward that runs whole in a class attribute, which the set-up's
    copies share: a hook would not count, as the copies are made without the model's hooks."""

    modes: ClassVar[list[bool]] = []

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.fc(x.flatten(1))
        # After the layer: the tracer's look for an embedding stops a forward before its first.
        self.modes.append(self.training)
        return scores


def test_the_set_up_runs_one_eval_forward_and_one_training_forward(monkeypatch) -> None:
    # The shape trace's eval-mode forward says what the model returns in eval mode; the check
    # of what it returns ran one of its own again, as long as the trace's.
    monkeypatch.setattr(CountsForwards, "modes", [])
    report = checked_shapes(
        CountsForwards(), "net.py:net", None, (1, 28, 28), "fmnist", num_classes=10
    )
    assert report is not None and report["failure"] is None
    assert CountsForwards.modes == [False, True]


def test_a_net_of_torch_layers_alone_is_not_run_again_while_training(monkeypatch) -> None:
    # Training mode changes what torch's own layers compute, not what they return: LeNet,
    # AlexNet and VGG (Sequentials of them) were run twice more, 3x the trace's time in all.
    modes: list[bool] = []
    linear_forward = nn.Linear.forward

    def counted(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        modes.append(self.training)
        return linear_forward(self, x)

    monkeypatch.setattr(nn.Linear, "forward", counted)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 10))
    report = checked_shapes(model, "net.py:net", None, (1, 28, 28), "fmnist", num_classes=10)
    assert report is not None and report["failure"] is None
    assert modes == [False]


def test_a_net_of_torch_layers_that_returns_a_tuple_is_refused() -> None:
    # An LSTM returns (output, (h, c)) in both modes: the trace's eval forward says so alone.
    with pytest.raises(UsageError) as caught:
        checked_shapes(
            nn.LSTM(28, 10, batch_first=True), "lstm", None, (28, 28), "x", num_classes=10
        )
    assert str(caught.value).startswith(
        "lstm returns a tuple (1x28x10, a tuple (1x1x10, 1x1x10)), where a run needs one tensor"
    )


class RaisesWhileTraining(nn.Module):
    """A model of the user's own whose training forward fails: the run shows that error."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            raise RuntimeError("training forward of my own")
        return self.fc(x.flatten(1))


def test_a_training_forward_that_raises_is_left_to_the_run_to_show() -> None:
    report = checked_shapes(
        RaisesWhileTraining(), "net.py:net", None, (1, 28, 28), "fmnist", num_classes=10
    )
    assert report is not None and report["failure"] is None


class ModelOutput(collections.OrderedDict):
    """Like transformers' ModelOutput, a dict subclass named for the model's task."""


def test_what_a_model_returned_is_described_in_one_line() -> None:
    scores = torch.zeros(1, 10)
    assert describe(ModelOutput(logits=scores)) == "ModelOutput {'logits': 1x10}"
    assert describe([scores, None]) == "a list [1x10, None]"
    assert describe((scores,) * 6) == "a tuple (1x10, 1x10, 1x10, 1x10, ... (6 in all))"
    assert (
        describe({"out": {"deep": {"deeper": scores}}}) == "a dict {'out': a dict {'deep': dict}}"
    )
    assert describe("scores") == "a str"


class NormAndDropout(nn.Module):
    """Running statistics and dropout's draws: what a training-mode probe could disturb."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 26 * 26, 10), nn.BatchNorm1d(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_the_check_leaves_the_models_state_and_the_seed_alone() -> None:
    model = NormAndDropout()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    modes = [module.training for module in model.modules()]
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    report = checked_shapes(model, "net.py:net", None, (1, 28, 28), "fmnist", num_classes=10)
    assert report is not None and report["failure"] is None
    assert torch.equal(torch.rand(4), expected)
    after = model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)  # BN's running stats
    assert [module.training for module in model.modules()] == modes


def test_a_run_of_a_model_that_returns_a_dict_stops_before_it_starts(tmp_path) -> None:
    (tmp_path / "net.py").write_text(
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, num_classes=10):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(784, num_classes)\n"
        "    def forward(self, x):\n"
        "        return {'logits': self.fc(x.flatten(1))}\n"
    )
    runs = tmp_path / "runs"
    out = cnntui("run", f"{tmp_path / 'net.py'}:Net", "--dataset",
                 "synthetic:1x28x28:10:train=64:test=16", "--epochs", "1", "--headless",
                 "--runs-root", runs)  # fmt: skip
    # It made a run directory and said "failed at step 0: TypeError: cross_entropy_loss(): ...".
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "returns a dict {'logits': 1x10}, where a run needs one tensor" in out.stderr
    assert not runs.exists() or not any(runs.iterdir())
