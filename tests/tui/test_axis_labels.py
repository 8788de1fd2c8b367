"""The charts' y tick labels stay inside the axis column, whatever the values."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import replay_app, screen_text
from scripted_run import scripted_events, until

from cnntui.engine.events import StepMetrics
from cnntui.tui.axis_labels import MAX_LABEL, short_labels, y_ticks
from cnntui.tui.widgets.loss_chart import LossChart


def blowing_up_events() -> list:
    """A run whose loss grows from 2.3 to 1.85e23 in 30 steps, as `--lr 1e6` made one do."""
    events = scripted_events(finish=False, upto_step=30)
    out = []
    for event in events:
        if isinstance(event, StepMetrics):
            losses = [
                2.3 * 10 ** (22.9 * (s - 1) / 29) for s in range(event.step - 9, event.step + 1)
            ]
            event = replace(event, losses=losses, loss=sum(losses) / len(losses))
        out.append(event)
    return out


def y_labels(chart_lines: list[str]) -> list[str]:
    """The labels left of the y axis's tick marks (┤) in a chart's lines."""
    return [line.split("┤")[0].strip("│ ") for line in chart_lines if "┤" in line]


@pytest.mark.parametrize("log_scale", [False, True], ids=["linear", "log"])
async def test_a_huge_loss_is_labelled_short_and_leaves_the_plot_its_width(log_scale) -> None:
    app = replay_app(blowing_up_events())
    async with app.run_test(size=(80, 24)) as pilot:
        assert await until(pilot, lambda: app.state.step == 30)
        if log_scale:
            await pilot.press("l")
        chart = app.query_one(LossChart)
        await until(pilot, lambda: chart.log_scale == log_scale and len(chart.render()) > 0)
        await pilot.pause(0.3)
        top = chart.region.y
        lines = screen_text(app).splitlines()[top : top + chart.region.height]
    labels = y_labels(lines)
    assert labels and labels[-1] == "2.3", lines  # every tick is written short, 2.3 too
    assert all(len(label) <= MAX_LABEL for label in labels), labels
    assert labels[0].endswith("e23"), labels


def test_labels_that_fit_are_left_to_plotext() -> None:
    assert y_ticks([0.31, 2.93], 5) is None
    assert y_ticks([], 5) is None


def test_short_labels_take_the_digits_that_tell_the_ticks_apart() -> None:
    assert short_labels([2.6, 6.27e6, 1.25e7, 1.88e7, 2.5e7]) == [
        "2.6",
        "6.3e6",
        "1.2e7",
        "1.9e7",
        "2.5e7",
    ]
    assert short_labels([1.000e7, 1.001e7, 1.002e7]) == ["1e7", "1.001e7", "1.002e7"]
    assert short_labels([1e-9, 1.5e-9, 2e-9]) == ["1e-9", "1.5e-9", "2e-9"]
    # Ticks that 4 digits would tell apart in 8 columns share the label that fits.
    assert short_labels([1.000e-9, 1.001e-9, 1.002e-9]) == ["1e-9", "1e-9", "1e-9"]


@pytest.mark.parametrize(
    "values",
    [
        [1.000e-9, 1.001e-9, 1.002e-9],  # 4 digits would be 8 columns: 1.001e-9
        [1.01e100, 1.02e100, 1.03e100],  # 3 would be: 1.01e100
        [1.5e-100, 2.5e-100],  # even 2 would be: 1.5e-100
        [-1.5e-300, -2.5e-300],
    ],
    ids=["tiny", "huge", "tinier", "negative"],
)
def test_short_labels_fit_even_where_they_cannot_tell_the_ticks_apart(values) -> None:
    labels = short_labels(values)
    assert all(len(label) <= MAX_LABEL for label in labels), labels
    assert len(labels) == len(values)
