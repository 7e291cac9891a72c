"""``DayOfWeekSensor``: wait until it is one of the given days of the week.

Example:
    >>> from asyncflow import DAG, WeekDay
    >>> with DAG("weekend_reports"):
    ...     DayOfWeekSensor(
    ...         task_id="weekend", week_day={WeekDay.SATURDAY, WeekDay.SUNDAY}, mode="reschedule"
    ...     )
    <DayOfWeekSensor 'weekend'>
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from asyncflow import Sensor, WeekDay
from sensors._common import Context, as_utc, definition_error


class DayOfWeekSensor(Sensor):
    """Wait until today (UTC), or the run's logical date, is one of ``week_day``.

    Airflow's ``DayOfWeekSensor``. With today's date, the sensor declares the
    start (00:00 UTC) of the next matching day as its next poke, so in
    reschedule mode it wakes exactly then.

    Args:
        week_day: A :class:`~asyncflow.WeekDay`, a day's name in any case
            (``"saturday"``), or an iterable of them.
        use_task_logical_date: Compare the run's ``logical_date`` (which never
            changes, so the first poke decides) instead of today's date.
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: ``week_day`` names no day, or something that is not a day.

    Example:
        >>> with DAG("mondays"):  # doctest: +SKIP
        ...     DayOfWeekSensor(task_id="monday", week_day="monday", use_task_logical_date=True)
    """

    ui_color = "#d3e2f0"

    def __init__(
        self,
        *,
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        try:
            self._week_day_num = WeekDay.validate_week_day(week_day)
        except ValueError as error:
            raise definition_error(self.task_id, str(error)) from None
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date

    def _day(self, context: Context) -> WeekDay:
        moment = context["logical_date"] if self.use_task_logical_date else datetime.now(UTC)
        return WeekDay(as_utc(moment).isoweekday())

    async def poke(self, context: Context) -> bool:
        """Whether the day (today's in UTC, or the logical date's) is one of ``week_day``."""
        return self._day(context) in self._week_day_num

    def not_before(self, context: Context) -> datetime | None:
        """The start of the next matching day (UTC); ``None`` with the logical date."""
        if self.use_task_logical_date:
            return None
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        days = next_matching_day(WeekDay(midnight.isoweekday()), self._week_day_num)
        return midnight + timedelta(days=days)


def next_matching_day(today: WeekDay, days: set[WeekDay]) -> int:
    """How many days after ``today`` the next of ``days`` comes (1 to 7).

    Example:
        >>> next_matching_day(WeekDay.FRIDAY, {WeekDay.MONDAY})
        3
    """
    return min((day - today - 1) % 7 + 1 for day in days)
