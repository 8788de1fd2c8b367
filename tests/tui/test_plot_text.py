"""Charts read plotext's matrix directly; the result must be exactly what its ANSI output gives."""

from __future__ import annotations

import pytest
from conftest import replay_app
from rich.text import Text
from scripted_run import scripted_events

from cnntui.tui.widgets import chart as chart_module


@pytest.mark.parametrize("size", [(160, 48), (80, 40)])
@pytest.mark.parametrize("log_scale", [False, True])
async def test_chart_text_equals_the_decoded_ansi_canvas(monkeypatch, size, log_scale) -> None:
    app = replay_app(scripted_events(device="cuda:0"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        if log_scale:
            await pilot.press("l")
            await pilot.pause(0.1)
        charts = [app.query_one(selector) for selector in ("#loss", "#accuracy")]
        direct = [chart.render() for chart in charts]
        # The old path: plotext prints the same figure as ANSI, Rich decodes it.
        monkeypatch.setattr(chart_module, "figure_text", lambda plot: Text.from_ansi(plot.build()))
        for chart, text in zip(charts, direct, strict=True):
            assert isinstance(text, Text) and len(text.spans) > 10  # a coloured plot, not a note
            assert text == chart.render()
