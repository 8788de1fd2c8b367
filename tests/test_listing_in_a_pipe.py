"""`cnntui models` in a pipe: one line per model, whole, for grep and cut."""

from __future__ import annotations

import os
import subprocess
import sys

from cnntui.zoo.registry import ZOO


def test_models_in_a_pipe_keep_each_description_on_its_model_s_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = subprocess.run(
        [sys.executable, "-m", "cnntui", "models"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if "│" in line}
    # A wrapped description leaves rows whose model cell is empty.
    assert set(rows) == set(ZOO)
    for name, spec in ZOO.items():
        assert spec.summary in rows[name]
    # The title was centred by rich and padded with spaces to the table's width.
    assert out.stdout.splitlines()[0] == "cnntui model zoo"
    assert [line for line in out.stdout.splitlines() if line != line.rstrip()] == []
