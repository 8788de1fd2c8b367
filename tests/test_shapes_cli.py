"""`cnntui shapes` as a user runs it: the shape debugger's messages, exit codes, --json.

Two debugger cases run as real `python -m cnntui` processes, started together up front because
each spends seconds importing torch; the others go through the same CLI entry point in this
process (`cnntui.cli.main` with its argv), which keeps the suite fast on a two-core machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cnntui.shapes.command import shapes_command

USER_NETS = '''
from torch import nn


class WrongFlatten(nn.Module):
    """LeNet-like with the classic slip: 16*4*4 features where 16*5*5 arrive."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool2 = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool2(self.conv2(self.pool1(self.conv1(x))))
        return self.fc(x.view(x.size(0), 16 * 4 * 4))
'''

PROCESS_CASES = {
    "wrong_spatial_size": ["lenet", "--input", "1x1x32x32"],
    "wrong_flatten_size": ["{nets}:WrongFlatten", "--input", "1x1x28x28"],
    "unknown_model": ["lenett", "--input", "28"],
    "mlp_features": ["mlp", "--input", "1x784", "--json"],
}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cnntui(args: list[str]) -> Result:
    # A wide terminal keeps each sentence on one line.
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-m", "cnntui", "shapes", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def run_in_process(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Result:
    """The CLI's own entry point, exit code and all, without starting Python again."""
    from cnntui.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["cnntui", "shapes", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return Result(int(exited.value.code or 0), captured.out, captured.err)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    nets = tmp_path_factory.mktemp("user") / "nets.py"
    nets.write_text(USER_NETS)
    commands = {
        name: [arg.replace("{nets}", str(nets)) for arg in args]
        for name, args in PROCESS_CASES.items()
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run_cnntui, args) for name, args in commands.items()}
        return {name: future.result() for name, future in futures.items()}


def said(result: Result) -> str:
    """Everything printed, with runs of whitespace folded so wrapped lines read as one."""
    return re.sub(r"\s+", " ", result.stdout + result.stderr)


def trace_user_net(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], net: str, input_text: str
) -> tuple[int, dict[str, Any]]:
    """`cnntui shapes FILE:net --input INPUT --json` for a file whose net() returns `net`."""
    source = tmp_path / "user_net.py"
    source.write_text(f"import torch\nfrom torch import nn\n\ndef net():\n    return {net}\n")
    code = shapes_command(
        f"{source}:net", input_text, None, "float32", "cpu", None, {}, True, False
    )
    return code, json.loads(capsys.readouterr().out)


def assert_debugger_output(result: Result, *phrases: str) -> None:
    text = said(result)
    assert result.returncode == 1, text
    assert "Traceback" not in text
    assert "✗" in result.stdout
    for phrase in phrases:
        assert phrase in text


def test_wrong_spatial_size(runs: dict[str, Result]) -> None:
    assert_debugger_output(
        runs["wrong_spatial_size"],
        "Layer 7 Linear(in_features=400, out_features=120, bias=True)",
        "expects 400 input features (in_features=400) but got 1x576 (576 features)",
        "--input 1x1x28x28 fits",
        "Linear(576, 120) would accept 1x1x32x32",
        # lenet is also a preset, which `cnntui run lenet` trains: the header says so.
        "lenet from preset lenet · input 1x1x32x32 · float32 · traced on cpu",
    )


def test_wrong_channels(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_debugger_output(
        run_in_process(["lenet5-cifar", "--input", "1x1x32x32"], monkeypatch, capsys),
        "Layer 0 Conv2d(3, 16, kernel_size=(5, 5), stride=(1, 1))",
        "expects 3 input channels (in_channels=3) but got 1x1x32x32 (1 channel)",
        "use --input 1x3x32x32",
    )


def test_wrong_channels_and_too_small_are_both_fixed_by_the_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Fixing the channels alone (1x1x8x8) would fail at the next layer.
    assert_debugger_output(
        run_in_process(["lenet", "--input", "3x8x8"], monkeypatch, capsys),
        "expects 1 input channel (in_channels=1) but got 1x3x8x8 (3 channels)",
        "lenet takes 1 input channel, and 1x1x8x8 is too small for it: "
        "the smallest input that works is --input 1x1x28x28",
    )


def test_too_small(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert_debugger_output(
        run_in_process(["alexnet", "--input", "1x1x28x28"], monkeypatch, capsys),
        "Layer 5 MaxPool2d(kernel_size=3, stride=2",
        "expects an input of at least 3x3 per channel but got 1x256x2x2",
        "The smallest input that works is --input 1x1x193x193",
    )


def test_bad_input_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_in_process(["lenet", "--input", "0x1x28x28"], monkeypatch, capsys)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "bad --input '0x1x28x28'" in result.stderr


def test_wrong_flatten_size(runs: dict[str, Result]) -> None:
    assert_debugger_output(
        runs["wrong_flatten_size"],
        "WrongFlatten.forward failed after layer pool2 gave 1x16x5x5",
        "shape '[1, 256]' is invalid for input of size 400",
        "holds 400 values per sample, not 256",
        "--input 1x1x27x27 fits",
    )


def test_failing_row_is_the_last_row(runs: dict[str, Result]) -> None:
    lines = runs["wrong_spatial_size"].stdout.splitlines()
    marked = [line for line in lines if "✗ 7 Linear" in line]
    assert len(marked) == 1
    assert "8 Sigmoid" not in runs["wrong_spatial_size"].stdout


def test_json_is_the_only_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = shapes_command("alexnet", "1x1x224x224", None, "float32", "cpu", None, {}, True, False)
    assert code == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # the whole of stdout is one document
    shapes = [
        row["output_shapes"][0]
        for row in doc["rows"]
        if row["is_leaf"] and row["type"] in ("Conv2d", "MaxPool2d", "Flatten", "Linear")
    ]
    assert shapes[0] == [1, 96, 54, 54]
    assert shapes[1] == [1, 96, 26, 26]
    assert shapes[7:] == [[1, 256, 5, 5], [1, 6400], [1, 4096], [1, 4096], [1, 10]]
    assert doc["failure"] is None
    assert doc["model"] == "alexnet"
    assert doc["input_shape"] == [1, 1, 224, 224]


def test_unknown_model_is_one_line(runs: dict[str, Result]) -> None:
    result = runs["unknown_model"]
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "unknown model 'lenett'" in result.stderr
    assert "did you mean lenet" in result.stderr


def test_json_failure_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code = shapes_command("lenet", "32", None, "float32", "cpu", None, {}, True, False)
    assert code == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["failure"]["layer"] == "7"
    assert doc["failure"]["suggested_input"] == [1, 1, 28, 28]
    assert doc["rows"][-1]["status"] == "failed"


def test_debug_prints_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code = shapes_command("lenet", "32", None, "float32", "cpu", None, {}, False, True)
    assert code == 1
    captured = capsys.readouterr()
    assert "Traceback" in captured.err
    assert "Traceback" not in captured.out


def test_default_input_and_depth(capsys: pytest.CaptureFixture[str]) -> None:
    code = shapes_command("googlenet", None, 1, "float32", "cpu", 5, {}, True, False)
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input_shape"] == [1, 1, 96, 96]
    assert doc["output_shapes"] == [[1, 5]]
    assert max(row["depth"] for row in doc["rows"]) == 1
    assert all(row["collapsed"] for row in doc["rows"] if row["depth"] == 1 and not row["is_leaf"])


def test_user_module_without_input_asks_for_one(tmp_path: Path) -> None:
    from cnntui.errors import UsageError

    nets = tmp_path / "nets.py"
    nets.write_text(USER_NETS)
    with pytest.raises(UsageError, match="pass --input"):
        shapes_command(f"{nets}:WrongFlatten", None, None, "float32", "cpu", None, {}, False, False)


def test_a_factory_that_raises_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nets = tmp_path / "m.py"
    nets.write_text('def bad():\n    raise RuntimeError("boom")\n')
    result = run_in_process([f"{nets}:bad", "--input", "1x3x8x8"], monkeypatch, capsys)
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        result.stderr
        == f"cnntui: error: building the model from {nets}:bad failed: RuntimeError: boom\n"
    )


def test_debug_shows_where_a_factory_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import traceback

    from cnntui.cli import main
    from cnntui.errors import UsageError

    nets = tmp_path / "m.py"
    nets.write_text('def bad():\n    raise RuntimeError("boom")\n')
    monkeypatch.setattr(
        sys, "argv", ["cnntui", "shapes", f"{nets}:bad", "-i", "1x3x8x8", "--debug"]
    )
    with pytest.raises(UsageError) as raised:
        main()  # --debug lets the error through, so Python prints its traceback
    shown = "".join(traceback.format_exception(raised.value))
    assert 'raise RuntimeError("boom")' in shown and "RuntimeError: boom" in shown


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nosuchmod:X", "cannot import nosuchmod: No module named 'nosuchmod'"),
        ("os:path", "os:path is neither an nn.Module nor a class or function that makes one"),
        ("{tmp}/nofile.py:f", "model file {tmp}/nofile.py does not exist"),
        ("{tmp}/broken.py:f", "importing {tmp}/broken.py failed: ZeroDivisionError: division by"),
    ],
)
def test_a_model_that_does_not_load_says_why_before_asking_for_input(
    ref: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "broken.py").write_text("1 / 0\n")
    ref, message = ref.format(tmp=tmp_path), message.format(tmp=tmp_path)
    result = run_in_process([ref], monkeypatch, capsys)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "pass --input" not in result.stderr


def test_help_names_every_model_form(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_in_process(["--help"], monkeypatch, capsys)
    assert result.returncode == 0
    assert "Zoo name, torchvision:NAME, module:attr, or file.py:attr; or a preset" in said(result)


def json_shapes(
    capsys: pytest.CaptureFixture[str],
    name: str,
    input_text: str | None = None,
    options: dict[str, object] | None = None,
) -> tuple[int, dict]:
    """`cnntui shapes NAME --json` in this process: the exit code and the document."""
    code = shapes_command(
        name, input_text, None, "float32", "cpu", None, options or {}, True, False
    )
    return code, json.loads(capsys.readouterr().out)


def test_mlp_is_traced_at_the_side_its_image_size_option_sets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, doc = json_shapes(capsys, "mlp", options={"image_size": 32})
    assert code == 0
    assert doc["input_shape"] == [1, 1, 32, 32]
    assert doc["model_options"] == {"image_size": 32}


def test_mlp_hint_names_the_size_it_is_built_for(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = json_shapes(capsys, "mlp", "28", {"image_size": 32})
    assert code == 1
    assert doc["failure"]["suggested_input"] == [1, 1, 32, 32]
    assert "built for 1x1x28x28" not in doc["failure"]["hint"]


@pytest.mark.parametrize(
    ("preset", "model", "options", "input_shape"),
    [
        ("lenet5-cifar10", "lenet5-cifar", {}, [1, 3, 32, 32]),  # a preset name only
        ("vgg11", "vgg11", {"ratio": 4}, [1, 1, 224, 224]),  # a model's name as well
        ("mlp-mnist", "mlp", {}, [1, 1, 28, 28]),
    ],
)
def test_a_preset_shows_the_net_cnntui_run_trains(
    preset: str,
    model: str,
    options: dict[str, object],
    input_shape: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch

    from cnntui.config import load_config
    from cnntui.zoo import build_model

    config = load_config(preset)
    assert (config.model, config.model_options) == (model, options)  # what `run` trains
    code, doc = json_shapes(capsys, preset)
    assert code == 0
    assert (doc["model"], doc["preset"], doc["model_options"]) == (model, preset, options)
    assert doc["input_shape"] == input_shape
    with torch.device("meta"):
        trained = build_model(model, options=options).module
    assert doc["totals"]["params"] == sum(p.numel() for p in trained.parameters())


def test_a_preset_header_names_the_preset_and_its_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_in_process(["vgg11"], monkeypatch, capsys)
    assert result.returncode == 0
    assert "vgg11 (ratio=4) from preset vgg11 · input 1x1x224x224 · float32" in result.stdout


def test_options_replace_a_presets_as_in_cnntui_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = json_shapes(capsys, "vgg11", options={"ratio": 8})
    assert code == 0
    assert doc["model_options"] == {"ratio": 8}


def test_a_preset_file_sets_input_and_classes_from_its_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preset = tmp_path / "small.toml"
    preset.write_text('model = "lenet"\ndataset = "synthetic:3x20x20:7"\nresize = 28\n')
    code, doc = json_shapes(capsys, str(preset))
    # As `cnntui run` does: lenet built for the data's 3 channels, its 20x20 images resized.
    assert code == 0
    assert doc["input_shape"] == [1, 3, 28, 28]
    assert doc["output_shapes"] == [[1, 7]]  # the data's classes
    assert doc["preset"] == str(preset)


def test_a_preset_whose_files_decide_the_image_size_asks_for_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cnntui.errors import UsageError

    preset = tmp_path / "pets.toml"
    preset.write_text('model = "lenet"\ndataset = "folder:/no/such/pets"\n')
    with pytest.raises(UsageError, match="only its files know; pass --input"):
        json_shapes(capsys, str(preset))
    code, doc = json_shapes(capsys, str(preset), "1x1x28x28")
    assert (code, doc["input_shape"]) == (0, [1, 1, 28, 28])


def test_a_net_that_cannot_be_built_on_meta_is_built_for_real(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # RegNet's builder reads widths back from tensors (.tolist()), which meta tensors cannot
    # give: `shapes torchvision:regnet_x_400mf` died with "Cannot copy out of meta tensor".
    code = shapes_command(
        "torchvision:regnet_x_400mf", "1x3x32x32", None, "float32", "cpu", None, {}, True, False
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"]["params"] == 5_495_976  # torchvision's documented count
    assert doc["output_shapes"] == [[1, 1000]]


def test_two_sizes_are_n_by_features_for_a_model_with_no_default_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A user's net of Linear layers takes 1x784, which no spelling of --input could give:
    # two sizes asked for channels the model does not have.
    code, doc = trace_user_net(
        tmp_path, capsys, "nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))", "1x784"
    )
    assert code == 0
    assert doc["input_shape"] == [1, 784]
    assert doc["output_shapes"] == [[1, 10]]
    # 784*16 + 16 + 16*10 + 10 = 12,730 parameters; 2 * (784*16 + 16*10) = 25,408 FLOPs.
    assert doc["totals"]["params"] == 12_730
    assert doc["totals"]["flops"] == 25_408


def test_the_zoo_mlp_takes_n_by_features(runs: dict[str, Result]) -> None:
    """`cnntui shapes mlp --input 1x784` was refused: two sizes were read as HxW, and a side
    of 1 as a shape cut short, for a net whose first layer flattens whatever it is given."""
    result = runs["mlp_features"]
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["input_shape"] == [1, 784]
    assert doc["output_shapes"] == [[1, 10]]
    assert doc["totals"]["params"] == 266_610


@pytest.mark.parametrize(
    ("args", "input_shape"),
    [
        (["mlp-mnist", "--input", "4x784"], [4, 784]),  # the preset that trains the MLP
        (["mlp", "--input", "28"], [1, 1, 28, 28]),  # one size is still the image's side
        (["mlp", "--input", "28x28"], [1, 1, 28, 28]),  # HxW, unless the second is 784
        (["lenet", "--input", "32x32"], [1, 1, 32, 32]),  # a conv net's two sizes: HxW
    ],
)
def test_two_sizes_are_hxw_for_a_conv_net_and_n_by_features_for_an_mlp(
    args: list[str],
    input_shape: list[int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_in_process([*args, "--json"], monkeypatch, capsys)
    assert json.loads(result.stdout)["input_shape"] == input_shape


def test_a_conv_net_still_refuses_two_sizes_with_a_side_of_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_in_process(["lenet", "--input", "1x784"], monkeypatch, capsys)
    assert result.returncode == 2
    assert "read as HxW" in result.stderr and "1x1x28x28" in result.stderr


def test_a_conv1d_net_takes_its_three_sizes_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--input 1x2x10` for a Conv1d net was read as CxHxW and traced as 1x1x2x10, which the
    Conv1d refused ('got 1x1x2x10'): no spelling of --input could give an NxCxL input."""
    code, doc = trace_user_net(
        tmp_path, capsys, "nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.MaxPool1d(2))", "1x2x10"
    )
    assert code == 0, doc["failure"]
    assert doc["input_shape"] == [1, 2, 10]
    assert doc["output_shapes"] == [[1, 4, 4]]
    # 2 * 8 positions * 4 out channels * (2 in channels * 3 taps) = 384 FLOPs
    assert doc["totals"]["flops"] == 384


def test_an_lstm_net_takes_its_three_sizes_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a Conv1d net's: 2x7x16 (2 sequences of 7 steps of 16 features) was traced as
    1x2x7x16, which the LSTM refused ('Expected input to be 2D or 3D, got 4D')."""
    code, doc = trace_user_net(tmp_path, capsys, "nn.LSTM(16, 32, batch_first=True)", "2x7x16")
    assert code == 0, doc["failure"]
    assert doc["input_shape"] == [2, 7, 16]
    assert doc["output_shapes"] == [[2, 7, 32], [1, 2, 32], [1, 2, 32]]


@pytest.mark.parametrize(
    ("attr", "why"),
    [("Fixed", "takes no num_classes argument"), ("built", "is a module already built")],
)
def test_num_classes_that_a_users_module_cannot_take_is_refused(
    attr: str,
    why: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--num-classes 5 was dropped in silence: the table showed the module's own 10 classes."""
    nets = tmp_path / "m.py"
    nets.write_text(
        "from torch import nn\n"
        "class Fixed(nn.Sequential):\n"
        "    def __init__(self):\n"
        "        super().__init__(nn.Flatten(), nn.Linear(12, 10))\n"
        "built = Fixed()\n"
        "def takes(num_classes=10):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(12, num_classes))\n"
    )
    args = ["--input", "1x12", "--num-classes", "5"]
    result = run_in_process([f"{nets}:{attr}", *args], monkeypatch, capsys)
    assert result.returncode == 2
    assert result.stderr == (
        f"cnntui: error: --num-classes 5: {nets}:{attr} {why}, so its own layers set the classes\n"
    )
    taken = run_in_process([f"{nets}:takes", *args, "--json"], monkeypatch, capsys)
    assert json.loads(taken.stdout)["output_shapes"] == [[1, 5]]


def test_options_for_a_module_already_built_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o width=3 on a module instance was dropped, and the header said '(width=3)'."""
    nets = tmp_path / "m.py"
    nets.write_text("from torch import nn\nbuilt = nn.Linear(12, 10)\n")
    args = [f"{nets}:built", "--input", "1x12", "-o", "width=3"]
    result = run_in_process(args, monkeypatch, capsys)
    assert result.returncode == 2
    assert result.stderr == (
        f"cnntui: error: {nets}:built is a module already built, so options (width) cannot "
        "change it; point at its class or a factory that takes them\n"
    )


def test_a_model_file_imports_its_sibling_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """net.py's `from sibling_blocks import block` failed ('No module named ...') from any
    folder, the file's own included: `python net.py` finds its siblings, cnntui did not."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the file's folder is added to it
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "sibling_blocks.py").write_text(
        "from torch import nn\ndef block():\n    return nn.Linear(12, 3)\n"
    )
    (folder / "net.py").write_text("from sibling_blocks import block\nnet = block\n")
    try:
        result = run_in_process([f"{folder}/net.py:net", "--input", "1x12"], monkeypatch, capsys)
    finally:
        sys.modules.pop("sibling_blocks", None)
    assert result.returncode == 0, result.stderr
    assert "Linear" in result.stdout
