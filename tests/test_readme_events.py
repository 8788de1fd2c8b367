"""The README's table of JSON events names every kind the engine writes, and only those."""

from __future__ import annotations

import re
from pathlib import Path

from cnntui.engine.events import EVENT_TYPES


def test_the_readme_lists_every_event_kind() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    listed = set(re.findall(r"^\| `(\w+)` \| ", readme, flags=re.MULTILINE))
    kinds = set(EVENT_TYPES)
    assert kinds <= listed, f"missing from the README's event table: {kinds - listed}"
    table = readme[readme.index("| `event` | when |") :].split("\n\n")[0].split("\n", 2)[2]
    assert set(re.findall(r"^\| `(\w+)` \| ", table, flags=re.MULTILINE)) == kinds
