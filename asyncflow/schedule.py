"""What a DAG's ``schedule`` means: parsing it, and the next fire time.

``parse_schedule`` turns what the user wrote into one of four frozen values and
fails at DAG definition, with one line naming the DAG, when it is not valid:

==========================  ================================================
``None``                    :class:`NoSchedule` (manual runs only)
``"@once"``                 :class:`OnceSchedule` (one run, at ``start_date``)
``"@daily"`` and presets    :class:`CronSchedule` with the preset's expression
``"*/5 * * * *"``           :class:`CronSchedule` (5 fields, what croniter accepts)
``timedelta(hours=6)``      :class:`DeltaSchedule` (every 6 hours from ``start_date``)
==========================  ================================================

``next_fire_after`` is pure: the time is passed in. A cron schedule is read on
the wall clock of ``start``'s time zone, so a zoned ``start_date`` keeps its
local times across daylight-saving changes (``"30 2 * * *"`` in Europe/Berlin
fires at 02:30 local all year). Where the wall clock jumps:

* **Spring forward** (02:00 -> 03:00): a wall time in the gap does not exist and
  fires shifted forward by the gap, at the same instant Airflow picks: 02:30 ->
  03:30 CEST (01:30 UTC). A fire that lands on a time that also fires on its own
  (02:00 -> 03:00 for ``"0 * * * *"``) fires once.
* **Fall back** (03:00 -> 02:00): a wall time in the repeated hour fires once, at
  its second occurrence (02:30 CET, 01:30 UTC), as Airflow does; except that a
  schedule that fires in every hour of the day (``"0 * * * *"``, ``"*/5 * * * *"``)
  fires at both occurrences, so it keeps its pace in real time.

A ``timedelta`` schedule counts real (UTC) time from ``start``: a daily
``timedelta`` fires at a local time one hour off after a DST change, as in
Airflow; use cron for fixed local times.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final, TypeAlias

from croniter import CroniterBadDateError, CroniterError, croniter

from asyncflow.exceptions import DagDefinitionError

__all__ = [
    "PRESETS",
    "CronSchedule",
    "DeltaSchedule",
    "NoSchedule",
    "OnceSchedule",
    "Schedule",
    "next_fire_after",
    "parse_schedule",
]

PRESETS: Final[dict[str, str]] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
"""Cron presets (Airflow's), by name; ``"@once"`` is not cron and is not here."""


@dataclass(frozen=True, slots=True)
class NoSchedule:
    """``schedule=None``: the DAG runs only when triggered."""


@dataclass(frozen=True, slots=True)
class OnceSchedule:
    """``schedule="@once"``: one run, at ``start_date``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CronSchedule:
    """A cron schedule; build it with :func:`parse_schedule`, which validates it.

    Attributes:
        expression: Five fields (minute hour day month weekday); presets are
            stored expanded (``"@daily"`` is ``"0 0 * * *"``).
    """

    expression: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeltaSchedule:
    """A fixed interval: fire times are ``start + k * delta`` for ``k = 0, 1, ...``.

    Attributes:
        delta: The interval, positive.
    """

    delta: timedelta


Schedule: TypeAlias = NoSchedule | OnceSchedule | CronSchedule | DeltaSchedule

_FIELDS: Final = ("minute", "hour", "day-of-month", "month", "day-of-week")
_FIELD_RANGES: Final = ("0-59", "0-23", "1-31", "1-12 or JAN-DEC", "0-6 or SUN-SAT")
_OR_ELSE: Final = "or use a preset (@hourly, @daily, ...) or a timedelta"
_ACCEPTED: Final = (
    "use None (manual runs only), a cron expression such as '*/5 * * * *',"
    " a preset (@once, @hourly, @daily, @weekly, @monthly, @yearly) or a timedelta"
)
# More than any daylight-saving change moves the clock (usually 1 h, at most 2 h).
_MAX_DST_SHIFT: Final = timedelta(hours=3)
# Errors computing a fire time after this year mean "past year 9999", not a bug.
_NEAR_YEAR_9999: Final = 9900
# Any expression that fires at all fires within 50 years of this (croniter's horizon).
_PROBE_FROM: Final = datetime(2000, 1, 1)


def parse_schedule(value: object, *, dag_id: str) -> Schedule:
    """Validate a DAG's ``schedule`` argument and return what it means.

    Args:
        value: ``None``, ``"@once"``, a preset (``"@hourly"``, ``"@daily"``,
            ``"@midnight"``, ``"@weekly"``, ``"@monthly"``, ``"@yearly"``,
            ``"@annually"``), a 5-field cron expression, or a positive
            ``timedelta``.
        dag_id: The DAG's id, for the error message.

    Returns:
        The parsed schedule.

    Raises:
        DagDefinitionError: One line naming the DAG, the value and what is
            accepted, e.g. ``DAG 'etl': invalid schedule '*/5 * * *': a cron
            expression needs 5 fields (minute hour day month weekday), got 4,
            or use a preset (@hourly, @daily, ...) or a timedelta``.

    Example:
        >>> parse_schedule("@daily", dag_id="etl")
        CronSchedule(expression='0 0 * * *')
        >>> parse_schedule(timedelta(hours=6), dag_id="etl")
        DeltaSchedule(delta=datetime.timedelta(seconds=21600))
    """
    if value is None:
        return NoSchedule()
    if isinstance(value, str):
        return _parse_text(value, dag_id)
    prefix = f"DAG {dag_id!r}: invalid schedule {value!r}"
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise DagDefinitionError(
                f"{prefix}: a timedelta schedule must be positive, e.g. timedelta(hours=1)"
            )
        return DeltaSchedule(delta=value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise DagDefinitionError(
            f"{prefix}: a number is not a schedule; use timedelta(seconds={value!r})"
            " for an interval, or a cron expression or a preset (@hourly, @daily, ...)"
        )
    raise DagDefinitionError(f"{prefix} ({type(value).__name__}): {_ACCEPTED}")


def _parse_text(value: str, dag_id: str) -> Schedule:
    prefix = f"DAG {dag_id!r}: invalid schedule {value!r}"
    text = value.strip()
    if not text:
        raise DagDefinitionError(f"{prefix}: the schedule is empty; {_ACCEPTED}")
    if text.startswith("@"):
        name = text.lower()
        if name == "@once":
            return OnceSchedule()
        if name in PRESETS:
            return CronSchedule(expression=PRESETS[name])
        raise DagDefinitionError(
            f"{prefix}: unknown preset; the presets are @once, {', '.join(PRESETS)}"
        )
    fields = text.split()
    if len(fields) != len(_FIELDS):
        extra = {
            6: " (a seconds field is not supported)",
            7: " (seconds and year fields are not supported)",
        }
        raise DagDefinitionError(
            f"{prefix}: a cron expression needs 5 fields (minute hour day month weekday),"
            f" got {len(fields)}{extra.get(len(fields), '')}, {_OR_ELSE}"
        )
    expression = " ".join(fields)
    try:
        croniter.expand(expression)
    except CroniterError as exc:
        raise DagDefinitionError(f"{prefix}: {_explain(fields, exc)}, {_OR_ELSE}") from None
    try:
        croniter(expression, _PROBE_FROM).get_next(datetime)
    except CroniterBadDateError:
        raise DagDefinitionError(
            f"{prefix}: it never fires (no date matches its day and month fields,"
            f" e.g. 31 in a 30-day month), {_OR_ELSE}"
        ) from None
    return CronSchedule(expression=expression)


def _explain(fields: list[str], error: CroniterError) -> str:
    """Name the first field that croniter rejects on its own, else croniter's reason."""
    for index, field in enumerate(fields):
        alone = " ".join(field if i == index else "*" for i in range(len(fields)))
        if not croniter.is_valid(alone):
            return (
                f"the {_FIELDS[index]} field {field!r} is not valid (allowed:"
                f" {_FIELD_RANGES[index]}, with *, ranges a-b, lists a,b and steps /n)"
            )
    reason = str(error)
    return reason.split("] ", 1)[1] if reason.startswith("[") and "] " in reason else reason


def describe_schedule(schedule: Schedule) -> str:
    """How a parsed schedule reads in a listing: ``None``, ``@once``, cron, or a duration."""
    if isinstance(schedule, CronSchedule):
        return schedule.expression
    if isinstance(schedule, DeltaSchedule):
        return str(schedule.delta)
    if isinstance(schedule, OnceSchedule):
        return "@once"
    return "None"


def next_fire_after(schedule: Schedule, after: datetime, *, start: datetime) -> datetime | None:
    """Return the schedule's first fire time strictly after ``after``.

    Fire times are the schedule's points at or after ``start``: ``start`` itself
    for ``@once``, ``start + k * delta`` for a timedelta (counted in real time),
    and the cron's matches on the wall clock of ``start``'s time zone (see the
    module docstring for daylight-saving changes).

    Args:
        schedule: What :func:`parse_schedule` returned.
        after: An aware datetime; the result is strictly later.
        start: The DAG's ``start_date``, aware; it anchors timedelta schedules
            and gives cron schedules their time zone.

    Returns:
        The next fire time, in ``after``'s time zone, or ``None`` when there is
        none (no schedule, ``@once`` already past, or beyond year 9999).

    Raises:
        ValueError: ``after`` or ``start`` is naive.

    Example:
        >>> berlin = ZoneInfo("Europe/Berlin")
        >>> next_fire_after(CronSchedule(expression="30 2 * * *"),
        ...                 datetime(2024, 3, 30, 12, tzinfo=berlin),
        ...                 start=datetime(2024, 1, 1, tzinfo=berlin))
        datetime.datetime(2024, 3, 31, 3, 30, tzinfo=zoneinfo.ZoneInfo(key='Europe/Berlin'))
    """
    for name, moment in (("after", after), ("start", start)):
        if moment.utcoffset() is None:
            raise ValueError(f"next_fire_after needs an aware {name}, got naive {moment}")
    if isinstance(schedule, NoSchedule):
        return None
    # Compare in UTC: datetimes sharing one tzinfo compare wall clocks, blind to DST.
    after_utc, start_utc = after.astimezone(UTC), start.astimezone(UTC)
    if isinstance(schedule, OnceSchedule):
        return start.astimezone(after.tzinfo) if start_utc > after_utc else None
    try:
        if isinstance(schedule, DeltaSchedule):
            fire = _delta_after(schedule.delta, after_utc, start_utc)
        else:
            zone = start.tzinfo
            assert zone is not None  # checked above; narrows the type for mypy
            floor = max(after_utc, start_utc - timedelta(microseconds=1))
            fire = _cron_after(schedule.expression, floor, zone)
    except (OverflowError, ValueError):
        # croniter and datetime fail in various ways when they run past year 9999.
        if after_utc.year < _NEAR_YEAR_9999:
            raise
        return None
    return fire.astimezone(after.tzinfo)


def _delta_after(delta: timedelta, after_utc: datetime, start_utc: datetime) -> datetime:
    elapsed = after_utc - start_utc
    if elapsed < timedelta(0):
        return start_utc
    return start_utc + (elapsed // delta + 1) * delta


def _cron_after(expression: str, after_utc: datetime, zone: tzinfo) -> datetime:
    local = after_utc.astimezone(zone)
    naive = local.replace(tzinfo=None, fold=0)
    every_hour = _fires_every_hour(expression)
    best = _first_fire(croniter(expression, naive), after_utc, zone, every_hour, until=None)
    assert best is not None  # without `until`, croniter raises rather than run out
    # A wall time a little before `after`'s may still fire after it: one in a gap the
    # clock has just jumped over (it fires shifted forward), or, from the first pass of
    # a repeated hour, one whose second pass is still ahead.
    lookback = _offset(local) - _offset((after_utc - _MAX_DST_SHIFT).astimezone(zone))
    if local.fold == 0:
        lookback = max(lookback, _offset(local) - _offset(local.replace(fold=1)))
    if lookback > timedelta(0):
        walls = croniter(expression, naive - lookback)
        earlier = _first_fire(walls, after_utc, zone, every_hour, until=naive)
        if earlier is not None and earlier < best:
            return earlier
    return best


def _first_fire(
    walls: croniter, after_utc: datetime, zone: tzinfo, every_hour: bool, until: datetime | None
) -> datetime | None:
    """The first instant after ``after_utc`` among the cron's next wall times, up to ``until``."""
    while True:
        wall = walls.get_next(datetime)
        if until is not None and wall > until:
            return None
        for instant in _instants(wall, zone, every_hour):
            if instant > after_utc:
                return instant


def _instants(wall: datetime, zone: tzinfo, every_hour: bool) -> tuple[datetime, ...]:
    """The UTC instants at which a naive wall-clock time fires in ``zone``, earliest first."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return (first,)
    if first < second:  # repeated by a fall-back
        return (first, second) if every_hour else (second,)
    # In a spring-forward gap: fold=0 reads it with the offset from before the
    # jump, i.e. shifted forward by the gap.
    return (first,)


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None  # moment is aware
    return offset


@functools.lru_cache(maxsize=256)
def _fires_every_hour(expression: str) -> bool:
    return croniter.expand(expression)[0][1] == ["*"]
