"""Data intervals and due runs: which scheduled runs a DAG needs, given the time.

As in Airflow, a scheduled run covers a *data interval*: its ``logical_date`` is
the start of the interval, and the run is due once the interval has ended. For
a cron schedule the intervals run from one fire time to the next; for a
``timedelta`` they start at ``start_date`` and last ``delta``; ``@once`` is one
run at ``start_date`` with an empty interval. Everything here is pure: the time
is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from croniter import croniter

from asyncflow.schedule import (
    CronSchedule,
    DeltaSchedule,
    NoSchedule,
    OnceSchedule,
    Schedule,
    next_fire_after,
)

_TINY = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, order=True)
class DataInterval:
    """The span of data one scheduled run processes; ``start`` is its logical date."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """The scheduling keywords of a DAG, as the timetable needs them."""

    schedule: Schedule
    start_date: datetime | None
    end_date: datetime | None = None
    catchup: bool = False


def first_interval(timing: Timing) -> DataInterval | None:
    """The first data interval at or after ``start_date``."""
    start = timing.start_date
    if start is None or isinstance(timing.schedule, NoSchedule):
        return None
    if isinstance(timing.schedule, OnceSchedule):
        return _within(timing, DataInterval(start, start))
    begin = next_fire_after(timing.schedule, start - _TINY, start=start)
    return _interval_from(timing, begin)


def next_interval(timing: Timing, previous: DataInterval) -> DataInterval | None:
    """The data interval after ``previous`` (``None`` past ``end_date`` or for ``@once``)."""
    if isinstance(timing.schedule, OnceSchedule | NoSchedule) or timing.start_date is None:
        return None
    return _interval_from(timing, previous.end)


def latest_complete_interval(timing: Timing, now: datetime) -> DataInterval | None:
    """The most recent interval that has ended by ``now`` (what catchup=False runs)."""
    first = first_interval(timing)
    if first is None or first.end > now:
        return None
    if isinstance(timing.schedule, OnceSchedule):
        return first
    assert timing.start_date is not None
    if isinstance(timing.schedule, DeltaSchedule):
        delta = timing.schedule.delta
        steps = (now - first.end) // delta
        return _within(timing, DataInterval(first.start + steps * delta, first.end + steps * delta))
    assert isinstance(timing.schedule, CronSchedule)
    end = _cron_at_or_before(timing.schedule, now, timing.start_date)
    start = _cron_at_or_before(timing.schedule, end - _TINY, timing.start_date)
    if start < first.start:
        return first
    return _within(timing, DataInterval(start, end))


def due_intervals(
    timing: Timing, last: DataInterval | None, now: datetime, *, limit: int = 1000
) -> list[DataInterval]:
    """The intervals whose runs are due by ``now``, oldest first.

    Args:
        timing: The DAG's scheduling keywords.
        last: The interval of the latest scheduled run already created, if any.
        now: The current time.
        limit: At most this many (a long catchup is created in slices).

    With ``catchup`` every missed interval since ``last`` (or ``start_date``) is
    due; without, only the latest complete one, if it is newer than ``last``.
    """
    if not timing.catchup:
        latest = latest_complete_interval(timing, now)
        if latest is None or (last is not None and latest <= last):
            return []
        return [latest]
    due: list[DataInterval] = []
    following = first_interval(timing) if last is None else next_interval(timing, last)
    while following is not None and following.end <= now and len(due) < limit:
        due.append(following)
        following = next_interval(timing, following)
    return due


def next_due_at(timing: Timing, last: DataInterval | None, now: datetime) -> datetime | None:
    """When the next run becomes due (an interval ends), for the scheduler to sleep until."""
    if not timing.catchup:
        latest = latest_complete_interval(timing, now)
        following = first_interval(timing) if latest is None else next_interval(timing, latest)
    else:
        following = first_interval(timing) if last is None else next_interval(timing, last)
    while following is not None and last is not None and following <= last:
        following = next_interval(timing, following)
    return None if following is None else following.end


def is_latest_interval(timing: Timing, interval: DataInterval, now: datetime) -> bool:
    """Whether ``interval``'s run is the latest scheduled one at ``now`` (LatestOnly's test).

    As in Airflow, it is while ``now`` lies within the interval that follows
    (after its start, the moment this run became due, up to its end), with
    ``end_date`` ignored; a schedule with no next interval (``@once``) has every
    run latest.
    """
    following = next_interval(replace(timing, end_date=None), interval)
    if following is None:
        return True
    return following.start < now <= following.end


def _interval_from(timing: Timing, begin: datetime | None) -> DataInterval | None:
    if begin is None:
        return None
    assert timing.start_date is not None
    end = next_fire_after(timing.schedule, begin, start=timing.start_date)
    if end is None:
        return None
    return _within(timing, DataInterval(begin.astimezone(UTC), end.astimezone(UTC)))


def _within(timing: Timing, interval: DataInterval) -> DataInterval | None:
    if timing.end_date is not None and interval.start > timing.end_date:
        return None
    return DataInterval(interval.start.astimezone(UTC), interval.end.astimezone(UTC))


def _cron_at_or_before(schedule: CronSchedule, moment: datetime, start: datetime) -> datetime:
    """The latest fire time at or before ``moment``, on ``start``'s wall clock."""
    zone = start.tzinfo
    local = moment.astimezone(zone).replace(tzinfo=None)
    walls = croniter(schedule.expression, local + _TINY)
    wall: datetime = walls.get_prev(datetime)
    # the fire may sit in a DST shift: resolve it through next_fire_after for exactness
    resolved = next_fire_after(schedule, (wall.replace(tzinfo=zone) - _TINY), start=start)
    assert resolved is not None
    return resolved if resolved <= moment else wall.replace(tzinfo=zone)


def intervals_between(timing: Timing, start: datetime, end: datetime) -> list[DataInterval]:
    """Every data interval whose logical date (start) is within ``[start, end]``, in order.

    What a backfill over those dates runs; ``@once`` gives its one interval when
    it falls in the range.
    """
    found: list[DataInterval] = []
    interval = first_interval(timing)
    while interval is not None and interval.start <= end:
        if interval.start >= start:
            found.append(interval)
        interval = next_interval(timing, interval)
    return found
