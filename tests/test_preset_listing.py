"""`cnntui presets` names every recipe whole, with the image size it trains at, at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys

from cnntui.config import list_presets


def test_presets_at_80_columns_show_names_and_image_sizes_whole() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "presets"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if "│" in line}
    assert set(rows) == set(list_presets())
    assert "…" not in out.stdout
    assert "fmnist@224" in rows["alexnet"] and "fmnist@96" in rows["googlenet"]
    assert "@" not in rows["lenet"]  # trains at the data set's own 28x28
    # The title was centred by rich and padded with spaces to the table's width.
    assert out.stdout.splitlines()[0] == "cnntui presets"
    assert [line for line in out.stdout.splitlines() if line != line.rstrip()] == []


def test_presets_are_listed_by_name() -> None:
    from cnntui.config import list_presets

    names = list(list_presets())
    assert names == sorted(names)
    assert names.index("lenet") < names.index("lenet-bn")
