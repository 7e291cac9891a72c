"""Time sensors: wait until a moment, a time of day, or a delay after the run's data interval.

All three tell the engine their target through :meth:`~asyncflow.Sensor.not_before`,
so a sensor pokes once at start and then once more at the target: in reschedule
mode it holds no slot in between and no poke is wasted, whatever the
``poke_interval`` (a target nearer than the interval is met on time too).

Example:
    >>> from datetime import time, timedelta
    >>> from asyncflow import DAG
    >>> with DAG("reports"):
    ...     DateTimeSensor(task_id="at_noon", target_time="2030-01-01T12:00:00Z")
    ...     TimeDeltaSensor(task_id="settle", delta=timedelta(hours=1), mode="reschedule")
    ...     TimeSensor(task_id="after_six", target_time=time(18), mode="reschedule")
    <DateTimeSensor 'at_noon'>
    <TimeDeltaSensor 'settle'>
    <TimeSensor 'after_six'>
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

import anyio

from asyncflow import Sensor
from sensors._common import Context, as_utc, definition_error, short, to_delta

TIMER_SLACK = timedelta(milliseconds=50)
"""How early a poke may come and still wait out the rest of the way to its target.

A timer may fire a little before its due time (coarse OS timers, clock rounding);
were such a poke "not done", the next one would come a whole ``poke_interval`` later.
"""


class DateTimeSensor(Sensor):
    """Wait until the wall clock reaches ``target_time``.

    Args:
        target_time: An aware ``datetime``, a naive one (taken as UTC), or an
            ISO-8601 string read with ``datetime.fromisoformat``. Airflow also
            accepts templates such as ``"{{ data_interval_end }}"``; asyncflow does
            not render them (use :class:`TimeDeltaSensor`, or compute the time in Python).
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: ``target_time`` is not a datetime or an ISO-8601 string.

    Example:
        >>> with DAG("nightly"):  # doctest: +SKIP
        ...     DateTimeSensor(
        ...         task_id="after_close", target_time="2030-01-01T17:30:00+01:00",
        ...         mode="reschedule",
        ...     )
    """

    ui_color = "#d3e2f0"

    def __init__(self, target_time: datetime | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_time = _parse_target(target_time, self.task_id)

    async def poke(self, context: Context) -> bool:
        """Whether the target time has come."""
        return await reached(self.target_time)

    def not_before(self, context: Context) -> datetime | None:
        """The target time: no poke before it can succeed."""
        return self.target_time


class TimeDeltaSensor(Sensor):
    """Wait until ``delta`` after the run's ``data_interval_end`` (Airflow's semantics).

    For a manual run ``data_interval_end`` is its ``logical_date``; for a scheduled
    run it is the end of the interval the run covers, so ``delta=timedelta(hours=1)``
    on a daily DAG waits until 01:00 the day after the interval.

    Args:
        delta: A ``timedelta`` or seconds; negative values are allowed (the target
            then lies before the interval's end).
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: ``delta`` is not a timedelta or a finite number.

    Example:
        >>> with DAG("daily", schedule="@daily"):  # doctest: +SKIP
        ...     TimeDeltaSensor(task_id="late_data", delta=timedelta(hours=2), mode="reschedule")
    """

    ui_color = "#d3e2f0"

    def __init__(self, delta: timedelta | float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = to_delta(delta, name="delta", task_id=self.task_id)

    def target(self, context: Context) -> datetime:
        """The time this run waits for: ``data_interval_end + delta``.

        Example:
            >>> from asyncflow import DAG
            >>> with DAG("daily"):
            ...     sensor = TimeDeltaSensor(timedelta(hours=2), task_id="late_data")
            >>> sensor.target({"data_interval_end": datetime(2024, 1, 2, tzinfo=UTC)})
            datetime.datetime(2024, 1, 2, 2, 0, tzinfo=datetime.timezone.utc)
        """
        end: datetime = context["data_interval_end"]
        return as_utc(end) + self.delta

    async def poke(self, context: Context) -> bool:
        """Whether ``data_interval_end + delta`` has come."""
        return await reached(self.target(context))

    def not_before(self, context: Context) -> datetime | None:
        """The target time: no poke before it can succeed."""
        return self.target(context)


class TimeSensor(Sensor):
    """Wait until ``target_time`` on the day the run's data interval ends (Airflow 3's semantics).

    The day is ``data_interval_end``'s date in the DAG's time zone (its
    ``start_date``'s zone, else UTC); a ``target_time`` with its own ``tzinfo``
    is read in that zone instead. A manual run's interval ends at its logical
    date, so a run triggered at 20:00 with ``time(18)`` succeeds at once.

    Args:
        target_time: A ``datetime.time``.
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: ``target_time`` is not a ``datetime.time``.

    Example:
        >>> from asyncflow import DAG
        >>> with DAG("after_close"):
        ...     sensor = TimeSensor(task_id="close", target_time=time(17, 30))
        >>> sensor.target({"data_interval_end": datetime(2024, 1, 2, 9, tzinfo=UTC)})
        datetime.datetime(2024, 1, 2, 17, 30, tzinfo=datetime.timezone.utc)
    """

    ui_color = "#d3e2f0"

    def __init__(self, *, target_time: time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, time):
            raise definition_error(
                self.task_id, f"target_time must be a datetime.time, got {short(target_time)}"
            )
        self.target_time = target_time

    def target(self, context: Context) -> datetime:
        """The moment this run waits for: ``target_time`` on ``data_interval_end``'s day."""
        zone = self.target_time.tzinfo or _dag_zone(self)
        day = as_utc(context["data_interval_end"]).astimezone(zone).date()
        return as_utc(datetime.combine(day, self.target_time.replace(tzinfo=None), zone))

    async def poke(self, context: Context) -> bool:
        """Whether the target time of day has come."""
        return await reached(self.target(context))

    def not_before(self, context: Context) -> datetime | None:
        """The target time: no poke before it can succeed."""
        return self.target(context)


def _dag_zone(sensor: Sensor) -> tzinfo:
    start = sensor.dag.start_date
    return start.tzinfo if start is not None and start.tzinfo is not None else UTC


async def reached(target: datetime) -> bool:
    """Whether now is at or after ``target``; within :data:`TIMER_SLACK` of it, wait it out.

    Example:
        >>> anyio.run(reached, datetime(2000, 1, 1, tzinfo=UTC))
        True
    """
    remaining = (target - datetime.now(UTC)).total_seconds()
    if remaining > TIMER_SLACK.total_seconds():
        return False
    while remaining > 0:
        await anyio.sleep(remaining)
        remaining = (target - datetime.now(UTC)).total_seconds()
    return True


def _parse_target(value: object, task_id: str) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    if not isinstance(value, str):
        raise definition_error(
            task_id, f"target_time must be a datetime or an ISO-8601 string, got {short(value)}"
        )
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        hint = " (templates are not rendered)" if "{{" in value else ""
        raise definition_error(
            task_id, f"target_time must be an ISO-8601 date and time, got {short(value)}{hint}"
        ) from None
