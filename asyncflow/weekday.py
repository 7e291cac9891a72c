"""``WeekDay``: the days of the week as Airflow names them (ISO numbers, Monday = 1).

Example:
    >>> from asyncflow import WeekDay
    >>> WeekDay.get_weekday_number("saturday"), WeekDay.convert(WeekDay.SUNDAY)
    (<WeekDay.SATURDAY: 6>, <WeekDay.SUNDAY: 7>)
    >>> sorted(WeekDay.validate_week_day(["monday", WeekDay.FRIDAY]))
    [<WeekDay.MONDAY: 1>, <WeekDay.FRIDAY: 5>]
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any


class WeekDay(enum.IntEnum):
    """A day of the week; its value is the ISO weekday (``date.isoweekday()``).

    An ``IntEnum``, as Airflow's ``WeekDay`` is, so ``WeekDay.MONDAY == 1``.

    Example:
        >>> from datetime import date
        >>> WeekDay(date(2026, 12, 5).isoweekday()).name
        'SATURDAY'
    """

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> WeekDay:
        """The day named ``week_day_str``, in any case (``"monday"``, ``"MONDAY"``).

        Raises:
            ValueError: the string names no day of the week.

        Example:
            >>> int(WeekDay.get_weekday_number("Wednesday"))
            3
        """
        if not isinstance(week_day_str, str) or week_day_str.upper() not in cls.__members__:
            raise ValueError(
                f"invalid week day {week_day_str!r}: use one of {', '.join(cls.__members__)} "
                "(in any case) or a WeekDay"
            )
        return cls[week_day_str.upper()]

    @classmethod
    def convert(cls, day: str | WeekDay) -> WeekDay:
        """``day`` as a ``WeekDay``: a ``WeekDay`` as it is, a string by its name.

        Raises:
            ValueError: ``day`` is a string that names no day of the week, or of another type.

        Example:
            >>> WeekDay.convert("friday")
            <WeekDay.FRIDAY: 5>
        """
        if isinstance(day, WeekDay):
            return day
        return cls.get_weekday_number(day)

    @classmethod
    def validate_week_day(cls, week_day: str | WeekDay | Iterable[str | WeekDay]) -> set[WeekDay]:
        """The days named by ``week_day``: one day or any iterable of days.

        Raises:
            ValueError: a day is not a ``WeekDay`` or a day's name, or no day is given.

        Example:
            >>> WeekDay.validate_week_day("sunday")
            {<WeekDay.SUNDAY: 7>}
        """
        days: list[Any]
        if isinstance(week_day, str | WeekDay):
            days = [week_day]
        elif isinstance(week_day, Iterable):
            days = list(week_day)
        else:
            raise ValueError(
                f"week_day must be a WeekDay, a day's name or an iterable of them, "
                f"got {type(week_day).__name__}"
            )
        converted = {cls.convert(day) for day in days}
        if not converted:
            raise ValueError("week_day names no day: give at least one day of the week")
        return converted
