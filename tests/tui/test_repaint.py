"""New numbers repaint a pane; only a pane that changes height asks for a relayout.

A relayout of the screen costs several times a pane's repaint, and the header, the device pane
and the throughput numbers change on every tick of a live run.
"""

from __future__ import annotations

from conftest import replay_app
from scripted_run import scripted_events

from cnntui.engine.events import DeviceStats, RunFailed
from cnntui.tui.state import PANES, RunState
from cnntui.tui.widgets.device import DevicePane
from cnntui.tui.widgets.header import RunHeader


def record_layouts(monkeypatch, widget_class) -> list[bool]:
    """The `layout` argument of every refresh the pane's own update_from asks for."""
    layouts: list[bool] = []
    updating = False
    real_refresh, real_update = widget_class.refresh, widget_class.update_from

    def refresh(self, *regions, layout: bool = False, **kwargs):
        if updating:
            layouts.append(layout)
        return real_refresh(self, *regions, layout=layout, **kwargs)

    def update_from(self, state):
        nonlocal updating
        updating = True
        try:
            return real_update(self, state)
        finally:
            updating = False

    monkeypatch.setattr(widget_class, "refresh", refresh)
    monkeypatch.setattr(widget_class, "update_from", update_from)
    return layouts


def gpu_stats(allocated: int, gpus: int = 1) -> DeviceStats:
    return DeviceStats(
        device="cuda:0",
        memory_allocated=allocated,
        memory_reserved=2 * allocated,
        memory_peak=2 * allocated,
        memory_total=80 << 30,
        utilization=50.0,
        gpus=[{"index": i, "utilization": 50.0} for i in range(gpus)],
    )


async def test_the_device_pane_relayouts_only_when_its_height_changes(monkeypatch) -> None:
    app = replay_app([])
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(DevicePane)
        layouts = record_layouts(monkeypatch, DevicePane)
        state = RunState()
        for allocated in (1 << 30, 2 << 30, 3 << 30):
            state.apply([gpu_stats(allocated)])
            pane.update_from(state)
            await pilot.pause()
            assert "GiB" in str(pane.render())
        state.apply([gpu_stats(3 << 30, gpus=2)])  # a second GPU: one line more
        pane.update_from(state)
        await pilot.pause()
        assert layouts == [
            True,  # from "no statistics yet" to the GPU lines
            False,
            False,
            True,  # the second GPU's line
        ]


async def test_the_header_relayouts_only_when_the_problem_line_comes(monkeypatch) -> None:
    app = replay_app([])
    async with app.run_test(size=(160, 48)) as pilot:
        header = app.query_one(RunHeader)
        layouts = record_layouts(monkeypatch, RunHeader)
        state = RunState()
        header.update_from(state)
        header.update_from(state)
        state.apply([RunFailed(error="CUDA error: out of memory", traceback="", step=3)])
        header.update_from(state)
        await pilot.pause()
        assert layouts == [False, False, True]
        assert "out of memory" in str(header.render())


async def test_every_pane_takes_an_update_while_the_app_tears_its_children_down() -> None:
    """A paced tick can land while the app shuts down and removes widgets; CI once failed on a
    pane that queried its own children by id at that moment."""
    app = replay_app([])
    async with app.run_test(size=(160, 48)) as pilot:
        state = RunState()
        state.apply(scripted_events(epochs=1, steps_per_epoch=30))
        for pane_id in PANES:
            await app.query_one(f"#{pane_id}").remove_children()
        await pilot.pause()
        for pane_id in PANES:
            app.query_one(f"#{pane_id}").update_from(state)
