"""WeekDay: Airflow's days of the week, read from names in any case, with one-line errors."""

from __future__ import annotations

import pytest

from asyncflow import WeekDay


def test_days_are_iso_weekday_numbers() -> None:
    """MONDAY is 1 and SUNDAY is 7, as date.isoweekday() counts."""
    assert [int(day) for day in WeekDay] == [1, 2, 3, 4, 5, 6, 7]
    assert int(WeekDay.MONDAY) == 1
    assert WeekDay.SUNDAY.name == "SUNDAY"


@pytest.mark.parametrize("name", ["saturday", "SATURDAY", "Saturday"])
def test_a_name_in_any_case_gives_its_day(name: str) -> None:
    """get_weekday_number and convert read a day's name whatever its case."""
    assert WeekDay.get_weekday_number(name) is WeekDay.SATURDAY
    assert WeekDay.convert(name) is WeekDay.SATURDAY


def test_convert_keeps_a_weekday() -> None:
    """A WeekDay given to convert comes back as it is."""
    assert WeekDay.convert(WeekDay.TUESDAY) is WeekDay.TUESDAY


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("friday", {WeekDay.FRIDAY}),
        (WeekDay.FRIDAY, {WeekDay.FRIDAY}),
        (["monday", WeekDay.FRIDAY], {WeekDay.MONDAY, WeekDay.FRIDAY}),
        ({"saturday", "sunday"}, {WeekDay.SATURDAY, WeekDay.SUNDAY}),
        (("monday", "MONDAY"), {WeekDay.MONDAY}),
    ],
    ids=["name", "weekday", "list", "set", "duplicates"],
)
def test_validate_week_day_reads_one_day_or_many(given: object, expected: set[WeekDay]) -> None:
    """validate_week_day takes a day, a name or an iterable of them and gives the set of days."""
    assert WeekDay.validate_week_day(given) == expected  # type: ignore[arg-type]


def test_a_misspelt_day_fails_with_one_line_naming_the_days() -> None:
    """A string that names no day is refused, listing the valid names."""
    with pytest.raises(ValueError, match=r"^invalid week day 'funday': use one of MONDAY, ") as e:
        WeekDay.get_weekday_number("funday")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("given", [3, None, 2.5])
def test_a_day_of_another_type_fails(given: object) -> None:
    """A number or None is no day: convert wants a WeekDay or its name."""
    with pytest.raises(ValueError, match=r"^invalid week day "):
        WeekDay.convert(given)  # type: ignore[arg-type]


def test_validate_week_day_refuses_no_day_and_a_non_iterable() -> None:
    """An empty iterable and a number are each refused with one line."""
    with pytest.raises(ValueError, match=r"^week_day names no day: give at least one"):
        WeekDay.validate_week_day([])
    with pytest.raises(ValueError, match=r"^week_day must be a WeekDay, a day's name or an "):
        WeekDay.validate_week_day(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^invalid week day 'someday'"):
        WeekDay.validate_week_day(["monday", "someday"])
