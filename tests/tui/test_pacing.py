"""The refresh tick spaces itself out when the UI thread costs more than its CPU budget."""

from __future__ import annotations

from cnntui.tui.dashboard import POLL_INTERVAL, Dashboard
from cnntui.tui.pacing import LONGEST_INTERVAL, UI_CPU_BUDGET, TickPacer
from cnntui.tui.sources import ListSource


class FakeClocks:
    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def tick(self, pacer: TickPacer, ui_share: float) -> float:
        """One interval passes in which the UI thread used `ui_share` of a core."""
        self.wall += pacer.interval
        self.cpu += pacer.interval * ui_share
        return pacer.next_interval()


def pacer_with(clocks: FakeClocks, budget: float = 0.05) -> TickPacer:
    return TickPacer(0.25, budget, 2.0, lambda: clocks.wall, lambda: clocks.cpu)


def test_a_cheap_ui_ticks_at_the_base_rate() -> None:
    clocks = FakeClocks()
    pacer = pacer_with(clocks)
    assert [clocks.tick(pacer, 0.02) for _ in range(5)] == [0.25] * 5


def test_a_ui_over_budget_slows_down_until_it_fits_and_speeds_up_again() -> None:
    clocks = FakeClocks()
    pacer = pacer_with(clocks)
    # Each tick costs 75 ms of UI thread time: 30% of a core at 4 Hz, six times the budget.
    cost = 0.075
    intervals = []
    for _ in range(12):
        clocks.wall += pacer.interval
        clocks.cpu += cost
        intervals.append(pacer.next_interval())
    assert intervals[0] > 0.25 and intervals == sorted(intervals)
    assert abs(intervals[-1] - cost / 0.05) < 0.05  # 1.5 s: 75 ms is 5% of it
    for _ in range(12):  # the load goes: back to 4 Hz
        last = clocks.tick(pacer, 0.0)
    assert last == 0.25


def test_a_skipped_tick_keeps_the_interval_and_restarts_the_measurement() -> None:
    clocks = FakeClocks()
    pacer = pacer_with(clocks)
    clocks.wall, clocks.cpu = 1.0, 0.2  # 20% of a core: four times the budget
    slowed = pacer.next_interval()
    assert slowed > 0.25
    clocks.wall += 10.0  # ten idle seconds, skipped: they neither count nor speed it up
    assert pacer.skip() == slowed
    assert clocks.tick(pacer, 0.05) == slowed  # on budget from the skip on: unchanged


def test_the_interval_never_passes_the_longest() -> None:
    clocks = FakeClocks()
    pacer = pacer_with(clocks)
    assert max(clocks.tick(pacer, 1.0) for _ in range(10)) == 2.0


def test_the_dashboard_paces_itself_by_default() -> None:
    app = Dashboard(ListSource([]))
    assert app.ui_cpu_budget == UI_CPU_BUDGET and app.poll_interval == POLL_INTERVAL
    assert LONGEST_INTERVAL >= 1.0  # the panes still move at least once every two seconds
