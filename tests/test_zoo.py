"""The zoo builds d2l's nets exactly: parameter counts and output shapes match the book."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from cnntui.errors import UsageError
from cnntui.zoo import ZOO, build_model, default_input

# Parameter counts of the nets as d2l defines them (1 channel in, 10 classes out).
D2L_PARAMS = {
    "lenet": 61_706,
    "lenet-bn": 44_878,
    "alexnet": 46_764_746,
    "vgg11": 128_806_154,
    "nin": 1_992_166,
    "googlenet": 5_977_530,
    "resnet18": 11_178_378,
    "densenet": 758_226,
    "mlp": 266_610,
    "lenet5-cifar": 40_010,
    "convnet-bn": 140_458,  # not a d2l net: the zoo's modern baseline
}


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", sorted(ZOO))
def test_parameter_counts_match_d2l_and_the_registry(name: str) -> None:
    model = build_model(name).module
    assert count(model) == D2L_PARAMS[name] == ZOO[name].params


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_model_maps_its_default_input_to_class_scores(name: str) -> None:
    with torch.device("meta"):
        model = build_model(name, num_classes=7).module.eval()
        out = model(torch.empty(2, *ZOO[name].default_input))
    assert tuple(out.shape) == (2, 7)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_the_zoo_says_which_nets_take_features(name: str) -> None:
    """`shapes` reads two sizes as N x features for these, before building them."""
    with torch.device("meta"):
        model = build_model(name).module
    first = next(m for m in model.modules() if not list(m.children()))
    assert ZOO[name].takes_features == isinstance(first, nn.Flatten | nn.Linear)
    assert ZOO[name].takes_features == (name == "mlp")


def test_vgg11_ratio_4_is_the_books_training_net() -> None:
    model = build_model("vgg11", options={"ratio": 4}).module
    first_linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert first_linear.in_features == 6272


def test_lenet_variants_swap_activation_and_pooling() -> None:
    model = build_model("lenet", options={"activation": "relu", "pool": "max"}).module
    kinds = {type(m) for m in model.modules()}
    assert nn.ReLU in kinds and nn.MaxPool2d in kinds
    assert nn.Sigmoid not in kinds and nn.AvgPool2d not in kinds
    assert count(model) == 61_706


def test_in_channels_and_classes_generalise() -> None:
    model = build_model("resnet18", in_channels=3, num_classes=100).module
    assert model(torch.zeros(1, 3, 96, 96)).shape == (1, 100)


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="has no option colour"):
        build_model("lenet", options={"colour": "red"})
    with pytest.raises(UsageError, match="unknown activation"):
        build_model("lenet", options={"activation": "swishy"})


def test_mlp_lists_its_image_size_option() -> None:
    from cnntui.zoo_listing import models_as_records

    listed = {record["name"]: record for record in models_as_records()}
    assert listed["mlp"]["options"] == {"image_size": 28}
    with pytest.raises(UsageError, match=r"\(options: image_size\)"):
        build_model("mlp", options={"foo": 1})


def test_mlp_is_built_for_the_side_its_image_size_sets() -> None:
    built = build_model("mlp", options={"image_size": 32})
    assert built.default_input == (1, 32, 32) == default_input("mlp", {"image_size": 32})
    assert built.module(torch.zeros(1, *built.default_input)).shape == (1, 10)
    assert default_input("mlp") == (1, 28, 28)


@pytest.mark.parametrize("side", ["abc", 0, 2.5, True])
def test_a_bad_image_size_is_a_usage_error(side: object) -> None:
    with pytest.raises(UsageError, match="image_size is the input's side"):
        build_model("mlp", options={"image_size": side})


def test_default_input_has_the_channels_the_model_was_built_with() -> None:
    # A 3-channel CIFAR net built for 1-channel images is built for 1x32x32, and the shape
    # hints that quote it must say so.
    assert build_model("lenet5-cifar", in_channels=1).default_input == (1, 32, 32)


def test_torchvision_models_build_without_weights() -> None:
    model = build_model("torchvision:resnet18").module
    assert count(model) == 11_689_512
    with pytest.raises(UsageError, match="did you mean resnet18"):
        build_model("torchvision:resnet81")


def test_user_module_from_a_file(tmp_path) -> None:
    path = tmp_path / "mynet.py"
    path.write_text(
        textwrap.dedent(
            """
            from torch import nn

            class Net(nn.Module):
                def __init__(self, in_channels=1, num_classes=10, width=8):
                    super().__init__()
                    self.body = nn.Sequential(
                        nn.Conv2d(in_channels, width, 3), nn.Flatten(), nn.LazyLinear(num_classes)
                    )

                def forward(self, x):
                    return self.body(x)

            def factory():
                return nn.Linear(4, 2)
            """
        )
    )
    net = build_model(f"{path}:Net", in_channels=3, num_classes=5, options={"width": 4}).module
    assert net.body[0].in_channels == 3 and net.body[0].out_channels == 4
    assert isinstance(build_model(f"{path}:factory").module, nn.Linear)
    with pytest.raises(UsageError, match="did you mean Net"):
        build_model(f"{path}:Nett")


def test_user_module_without_an_init_of_its_own(tmp_path) -> None:
    # nn.Module's __init__(*args, **kwargs) was read as taking in_channels and num_classes, and
    # refused them: "__init__() got an unexpected keyword argument 'in_channels'".
    path = tmp_path / "fixed.py"
    path.write_text(
        textwrap.dedent(
            """
            from torch import nn

            class FirstTen(nn.Module):
                def forward(self, x):
                    return x.flatten(1)[:, :10]
            """
        )
    )
    net = build_model(f"{path}:FirstTen", in_channels=1, num_classes=10).module
    assert type(net).__name__ == "FirstTen"


def test_unknown_model_on_the_command_line_is_one_line_and_exit_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "run", "alexnett", "--headless"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "did you mean alexnet" in out.stderr


def test_a_model_files_folder_cannot_shadow_what_cnntui_imports_later(tmp_path) -> None:
    """A model file's folder stayed first on sys.path after loading it, so a `tabnanny.py`
    (or `rich.py`, `plotext.py`) beside the model replaced the real module for every import
    cnntui made afterwards. Its siblings still win while it is imported, and its forward can
    still import one lazily, as under `python net.py`."""
    (tmp_path / "tabnanny.py").write_text("WHO = 'the sibling'\n")
    (tmp_path / "lazy_part.py").write_text("SCALE = 2.0\n")
    (tmp_path / "net.py").write_text(
        textwrap.dedent(
            """
            import tabnanny
            from torch import nn

            SEEN_AT_IMPORT = tabnanny.WHO

            class Net(nn.Module):
                def forward(self, x):
                    import lazy_part
                    return x * lazy_part.SCALE
            """
        )
    )
    script = textwrap.dedent(
        f"""
        import sys, torch
        from cnntui.zoo.external import load_user_target
        net_class = load_user_target({str(tmp_path / "net.py")!r} + ":Net")
        print(sys.modules[net_class.__module__].SEEN_AT_IMPORT)
        del sys.modules["tabnanny"]
        import tabnanny
        print(getattr(tabnanny, "WHO", "the standard library's"))
        print(float(net_class()(torch.ones(1)).item()))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["the sibling", "the standard library's", "2.0"]
