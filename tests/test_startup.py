"""Start-up hygiene: the light commands must not import torch or Textual."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "textual", "torchvision", "plotext")


def loaded_modules(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_cnntui_is_light() -> None:
    modules = loaded_modules("import cnntui, cnntui.cli, cnntui.config, cnntui.engine.events")
    assert not [m for m in HEAVY if m in modules]


def test_help_and_models_do_not_import_torch_or_textual() -> None:
    for argv in (["--help"], ["models"], ["models", "--json"], ["presets"], ["run", "--help"]):
        code = (
            "import sys\nfrom cnntui.cli import app\n"
            f"sys.argv = ['cnntui', *{argv!r}]\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
        )
        modules = loaded_modules(code)
        assert not [m for m in HEAVY if m in modules], argv


def test_models_json_lists_the_zoo() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "models", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0
    models = {m["name"]: m for m in json.loads(out.stdout)}
    assert models["lenet"]["params"] == 61_706
    assert models["alexnet"]["default_input"] == [1, 224, 224]


def test_unknown_command_is_a_usage_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "frobnicate"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
