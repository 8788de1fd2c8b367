"""`watch`'s silence: from the last event's own time for a run's history, from arrival for news."""

from __future__ import annotations

import time
from pathlib import Path

from scripted_run import scripted_events

from cnntui.runlog import RunLogWriter
from cnntui.tui.silence import SKEW_ALLOWANCE, LastEvent, Silence, clock_time
from cnntui.tui.sources import FileSource

AFTER = 15.0  # the dashboard's STALE_AFTER
WALL = 1_800_000_000.0  # this machine's clock when watch opened


def test_a_history_that_ended_long_ago_is_silent_since_its_last_event() -> None:
    last = LastEvent(mono=100.0, wall=WALL)
    two_hours = 2 * 3600 + 13 * 60 + 5
    last.arrived(WALL - two_hours, ends_history=True, mono=100.5, wall=WALL + 0.5, after=AFTER)
    # At once, not 15 s after watch opened, and dated by the event, not by its arrival.
    assert last.silence(mono=100.5, after=AFTER) == Silence(WALL - two_hours, two_hours + 0.5)
    assert last.silence(mono=110.5, after=AFTER) == Silence(WALL - two_hours, two_hours + 10.5)


def test_a_history_within_the_skew_allowance_is_timed_by_its_arrival() -> None:
    """A live run on a machine whose clock is behind: its last event looks old by that much."""
    last = LastEvent(mono=100.0, wall=WALL)
    skewed = WALL - (AFTER + SKEW_ALLOWANCE - 1)
    last.arrived(skewed, ends_history=True, mono=100.5, wall=WALL + 0.5, after=AFTER)
    assert last.silence(mono=100.5 + AFTER, after=AFTER) is None
    assert last.silence(mono=101 + AFTER, after=AFTER) == Silence(WALL + 0.5, AFTER + 0.5)


def test_news_is_timed_by_its_arrival_whatever_its_clock_says() -> None:
    last = LastEvent(mono=100.0, wall=WALL)
    # Part of the history (a long file handed over in batches): not its last event.
    last.arrived(WALL - 7200, ends_history=False, mono=100.5, wall=WALL + 0.5, after=AFTER)
    assert last.silence(mono=101.0, after=AFTER) is None
    # Written after watch opened by a clock an hour behind, or an hour ahead.
    for written in (WALL - 3600, WALL + 3600):
        last.arrived(written, ends_history=False, mono=200.0, wall=WALL + 100, after=AFTER)
        assert last.silence(mono=200.0 + AFTER, after=AFTER) is None
        assert last.silence(mono=230.0, after=AFTER) == Silence(WALL + 100, 30.0)


def test_a_history_dated_ahead_of_this_clock_is_timed_by_its_arrival() -> None:
    last = LastEvent(mono=100.0, wall=WALL)
    last.arrived(WALL + 3600, ends_history=True, mono=100.5, wall=WALL + 0.5, after=AFTER)
    assert last.silence(mono=110.0, after=AFTER) is None
    assert last.silence(mono=120.5, after=AFTER) == Silence(WALL + 0.5, 20.0)


def test_with_no_event_yet_the_silence_counts_from_opening() -> None:
    last = LastEvent(mono=100.0, wall=WALL)
    assert last.silence(mono=110.0, after=AFTER) is None
    assert last.silence(mono=120.0, after=AFTER) == Silence(WALL, 20.0)


def test_clock_time_says_the_day_only_when_it_was_not_today() -> None:
    noon = time.mktime((2026, 11, 24, 12, 0, 0, 0, 0, -1))
    assert clock_time(noon - 3600 - 120, noon) == "10:58"
    yesterday = time.mktime((2026, 11, 23, 23, 14, 0, 0, 0, -1))
    assert clock_time(yesterday, noon) == time.strftime("%a 23:14", time.localtime(yesterday))
    weeks_ago = time.mktime((2026, 11, 2, 9, 0, 0, 0, 0, -1))
    assert clock_time(weeks_ago, noon) == "2026-11-02"


def test_the_file_source_says_which_drain_ends_the_history(tmp_path: Path) -> None:
    """The last event the file held at opening is the one whose own time may date a silence;
    those before it (a long file comes in batches) and those after it are not."""
    events = scripted_events(finish=False, upto_step=50)
    writer = RunLogWriter(tmp_path)
    for event in events[:-3]:
        writer(event)
    source = FileSource(tmp_path, interval=0.01, max_batch=4)
    drained: list[tuple[int, bool]] = []
    deadline = time.monotonic() + 5
    while sum(n for n, _ in drained) < len(events) - 3 and time.monotonic() < deadline:
        batch = source.drain()
        if batch:
            drained.append((len(batch), source.ends_history))
        time.sleep(0.005)
    assert [ends for _, ends in drained] == [False] * (len(drained) - 1) + [True]
    for event in events[-3:]:
        writer(event)
    writer.close()
    news: list[bool] = []
    while sum(n for n, _ in drained) + len(news) < len(events) and time.monotonic() < deadline:
        batch = source.drain()
        news += [source.ends_history] * len(batch)
        time.sleep(0.005)
    source.close()
    assert news == [False, False, False]
