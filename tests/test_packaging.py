"""The wheel carries the presets: `cnntui presets` works from an installed copy, anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--quiet", "-w", str(out)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("cnntui-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_every_preset_and_the_console_script(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for preset in (ROOT / "presets").glob("*.toml"):
        assert f"cnntui/presets/{preset.name}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "cnntui = cnntui.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_presets_list_from_the_installed_wheel_in_another_directory(wheel, tmp_path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "presets", "--json"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    presets = {p["name"]: p for p in json.loads(out.stdout)}
    assert set(presets) == {p.stem for p in (ROOT / "presets").glob("*.toml")}
    assert Path(presets["lenet"]["path"]).is_relative_to(site)
