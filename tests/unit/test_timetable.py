"""Data intervals and due runs, tested with tables (the time is passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from asyncflow.schedule import parse_schedule
from asyncflow.timetable import (
    DataInterval,
    Timing,
    due_intervals,
    first_interval,
    intervals_between,
    latest_complete_interval,
    next_due_at,
)


def at(text: str) -> datetime:
    """An aware UTC datetime from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def timing(schedule: object, start: str | datetime, **kw: object) -> Timing:
    """A Timing for ``schedule`` starting at ``start``."""
    start_date = at(start) if isinstance(start, str) else start
    return Timing(schedule=parse_schedule(schedule, dag_id="t"), start_date=start_date, **kw)  # type: ignore[arg-type]


def span(a: str, b: str) -> DataInterval:
    """A data interval between two 'YYYY-MM-DD HH:MM' times."""
    return DataInterval(at(a), at(b))


@pytest.mark.parametrize(
    ("schedule", "start", "expected"),
    [
        ("@daily", "2026-01-01 00:00", span("2026-01-01 00:00", "2026-01-02 00:00")),
        ("@daily", "2026-01-01 10:00", span("2026-01-02 00:00", "2026-01-03 00:00")),
        ("0 */6 * * *", "2026-01-01 01:00", span("2026-01-01 06:00", "2026-01-01 12:00")),
        ("@monthly", "2026-01-15 00:00", span("2026-02-01 00:00", "2026-03-01 00:00")),
        ("@monthly", "2026-01-31 00:00", span("2026-02-01 00:00", "2026-03-01 00:00")),
        ("0 0 29 2 *", "2026-01-01 00:00", span("2028-02-29 00:00", "2032-02-29 00:00")),
        (timedelta(hours=5), "2026-01-01 01:30", span("2026-01-01 01:30", "2026-01-01 06:30")),
        ("@once", "2026-01-01 12:00", span("2026-01-01 12:00", "2026-01-01 12:00")),
        (None, "2026-01-01 12:00", None),
    ],
    ids=["daily", "daily-unaligned", "six-hourly", "month-mid", "month-end", "leap-day",
         "timedelta", "once", "manual"],
)  # fmt: skip
def test_first_interval(schedule: object, start: str, expected: DataInterval | None) -> None:
    """The first interval is aligned to the schedule at or after start_date."""
    assert first_interval(timing(schedule, start)) == expected


@pytest.mark.parametrize(
    ("catchup", "now", "count", "first", "last"),
    [
        (True, "2026-01-05 12:00", 4, "2026-01-01 00:00", "2026-01-04 00:00"),
        (False, "2026-01-05 12:00", 1, "2026-01-04 00:00", "2026-01-04 00:00"),
        (True, "2026-01-01 23:59", 0, None, None),
        (False, "2026-01-01 23:59", 0, None, None),
        (True, "2026-01-02 00:00", 1, "2026-01-01 00:00", "2026-01-01 00:00"),
    ],
    ids=["catchup", "latest-only", "nothing-yet", "nothing-yet-latest", "exactly-at-end"],
)
def test_due_intervals_with_and_without_catchup(
    catchup: bool, now: str, count: int, first: str | None, last: str | None
) -> None:
    """With catchup every missed run is due, oldest first; without it only the latest."""
    due = due_intervals(timing("@daily", "2026-01-01 00:00", catchup=catchup), None, at(now))
    assert len(due) == count
    if due:
        assert due[0].start == at(first or "")
        assert due[-1].start == at(last or "")


def test_due_intervals_continue_after_the_last_run() -> None:
    """Runs already created are not due again; the next ones follow them."""
    t = timing("@daily", "2026-01-01 00:00", catchup=True)
    last = span("2026-01-02 00:00", "2026-01-03 00:00")
    due = due_intervals(t, last, at("2026-01-05 01:00"))
    assert [d.start for d in due] == [at("2026-01-03 00:00"), at("2026-01-04 00:00")]
    assert (
        due_intervals(timing("@daily", "2026-01-01 00:00"), due[-1], at("2026-01-05 01:00")) == []
    )


def test_end_date_stops_the_schedule() -> None:
    """No interval starts after end_date."""
    t = timing("@daily", "2026-01-01 00:00", catchup=True, end_date=at("2026-01-02 00:00"))
    due = due_intervals(t, None, at("2026-02-01 00:00"))
    assert [d.start for d in due] == [at("2026-01-01 00:00"), at("2026-01-02 00:00")]
    assert next_due_at(t, due[-1], at("2026-02-01 00:00")) is None


def test_catchup_is_created_in_slices() -> None:
    """A long catchup returns at most `limit` intervals at a time."""
    t = timing("@hourly", "2025-01-01 00:00", catchup=True)
    assert len(due_intervals(t, None, at("2026-01-01 00:00"), limit=100)) == 100


def test_once_runs_once() -> None:
    """@once is due once start_date has passed, then never again."""
    t = timing("@once", "2026-01-01 12:00", catchup=True)
    due = due_intervals(t, None, at("2026-01-02 00:00"))
    assert due == [span("2026-01-01 12:00", "2026-01-01 12:00")]
    assert due_intervals(t, due[0], at("2027-01-01 00:00")) == []


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        ("@daily", "2026-03-10 05:00", span("2026-03-09 00:00", "2026-03-10 00:00")),
        ("*/15 * * * *", "2026-03-10 05:07", span("2026-03-10 04:45", "2026-03-10 05:00")),
        (timedelta(hours=7), "2026-01-02 00:00", span("2026-01-01 14:00", "2026-01-01 21:00")),
        ("@monthly", "2026-03-01 00:00", span("2026-02-01 00:00", "2026-03-01 00:00")),
    ],
    ids=["daily", "quarter-hour", "timedelta", "month-boundary"],
)
def test_latest_complete_interval(schedule: object, now: str, expected: DataInterval) -> None:
    """The latest interval that has ended by now."""
    assert latest_complete_interval(timing(schedule, "2026-01-01 00:00"), at(now)) == expected


def test_a_zoned_daily_schedule_keeps_its_wall_clock_across_dst() -> None:
    """A daily 02:00 Europe/Berlin schedule stays at 02:00 local across the spring change."""
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 25, 2, 0, tzinfo=berlin)
    t = Timing(schedule=parse_schedule("0 2 * * *", dag_id="t"), start_date=start, catchup=True)
    due = due_intervals(t, None, datetime(2026, 4, 1, tzinfo=UTC))
    local_hours = {d.start.astimezone(berlin).hour for d in due if d.start.day != 29}
    assert local_hours == {2}
    assert due[0].start == datetime(2026, 3, 25, 1, 0, tzinfo=UTC)  # CET: UTC+1
    assert due[-2].start == datetime(2026, 3, 30, 0, 0, tzinfo=UTC)  # CEST: UTC+2


def test_next_due_at_is_the_end_of_the_next_interval() -> None:
    """The scheduler sleeps until the next interval ends."""
    t = timing("@daily", "2026-01-01 00:00")
    assert next_due_at(t, None, at("2026-01-01 05:00")) == at("2026-01-02 00:00")
    last = span("2026-01-01 00:00", "2026-01-02 00:00")
    assert next_due_at(t, last, at("2026-01-02 05:00")) == at("2026-01-03 00:00")
    assert next_due_at(timing(None, "2026-01-01 00:00"), None, at("2026-01-02 00:00")) is None


@pytest.mark.parametrize(
    ("schedule", "start", "end", "count", "first"),
    [
        ("@daily", "2026-01-03 00:00", "2026-01-05 00:00", 3, "2026-01-03 00:00"),
        ("@daily", "2026-01-03 12:00", "2026-01-05 11:00", 2, "2026-01-04 00:00"),
        ("@hourly", "2026-01-01 00:00", "2026-01-01 23:59", 24, "2026-01-01 00:00"),
        ("@daily", "2025-12-01 00:00", "2026-01-01 00:00", 1, "2026-01-01 00:00"),
        ("@once", "2026-01-01 00:00", "2026-01-02 00:00", 1, "2026-01-01 00:00"),
        ("@daily", "2026-02-01 00:00", "2026-01-01 00:00", 0, None),
    ],
    ids=["days", "unaligned-range", "hours", "before-start-date", "once", "empty-range"],
)
def test_intervals_between_for_backfills(
    schedule: str, start: str, end: str, count: int, first: str | None
) -> None:
    """A backfill covers every interval whose logical date is in the range."""
    found = intervals_between(timing(schedule, "2026-01-01 00:00"), at(start), at(end))
    assert len(found) == count
    if found:
        assert found[0].start == at(first or "")
