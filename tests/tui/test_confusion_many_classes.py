"""A confusion matrix of many classes: each row's accuracy is in view without scrolling."""

from __future__ import annotations

from conftest import replay_app, screen_text
from scripted_run import T0, scripted_events, until

from cnntui.engine.events import Evaluation

CLASSES = 100


def hundred_class_evaluation() -> Evaluation:
    """synthetic:3x32x32:100 after a little training: class i right in (i % 10) of 10 cases."""
    rows = []
    for true in range(CLASSES):
        row = [0] * CLASSES
        row[true] = true % 10
        row[(true + 1) % CLASSES] = 10 - true % 10
        rows.append(row)
    return Evaluation(
        step=100, split="test", loss=3.1, accuracy=0.45,
        classes=[f"class {i}" for i in range(CLASSES)],
        per_class_accuracy=[(i % 10) / 10 for i in range(CLASSES)],
        confusion=rows, time=T0 + 10,
    )  # fmt: skip


async def test_each_rows_accuracy_is_in_view() -> None:
    events = [*scripted_events(finish=False, upto_step=100), hundred_class_evaluation()]
    app = replay_app(events)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state.evaluation is not None)
        await pilot.press("c")
        await pilot.pause(0.2)
        lines = screen_text(app).splitlines()
    header = next(line for line in lines if "true \\ pred" in line)
    assert "acc" in header, header
    for index in (3, 7):  # 30% and 70%, beside the row's name
        row = next(line for line in lines if f"│{index} class {index} " in line)
        cells = row.split("│")[1].split()
        assert cells[:4] == [str(index), "class", str(index), f"{index * 10}%"], row
