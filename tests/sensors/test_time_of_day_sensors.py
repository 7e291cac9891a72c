"""TimeSensor and DayOfWeekSensor: their targets, their wake-ups and their definition errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
from sensor_helpers import LIMIT, MODES, poke_counts

from asyncflow import DAG, DagDefinitionError, DagRunState, Engine, TaskState, WeekDay
from sensors import DayOfWeekSensor, TimeSensor
from sensors.weekday import next_matching_day

pytestmark = pytest.mark.anyio

SATURDAY = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def interval_end(moment: datetime) -> dict[str, Any]:
    """A context whose data interval ends at ``moment``."""
    return {"data_interval_end": moment}


def test_time_sensor_targets_the_time_on_the_data_interval_end_day() -> None:
    """The target is target_time on data_interval_end's date, and not_before says so."""
    with DAG("tod"):
        sensor = TimeSensor(task_id="close", target_time=time(17, 30))
    expected = datetime(2026, 12, 5, 17, 30, tzinfo=UTC)
    assert sensor.target(interval_end(SATURDAY)) == expected
    assert sensor.not_before(interval_end(SATURDAY)) == expected


def test_time_sensor_reads_the_day_and_time_in_the_dags_zone() -> None:
    """With a zoned start_date, 17:30 is Paris time on the Paris date of the interval end."""
    paris = ZoneInfo("Europe/Paris")
    with DAG("tod_paris", start_date=datetime(2026, 1, 1, tzinfo=paris)):
        sensor = TimeSensor(task_id="close", target_time=time(17, 30))
    late_evening_utc = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)  # already Sunday in Paris
    assert sensor.target(interval_end(late_evening_utc)) == datetime(
        2026, 12, 6, 16, 30, tzinfo=UTC
    )


def test_a_target_time_with_its_own_zone_keeps_it() -> None:
    """An aware target_time is read in its own zone, not the DAG's."""
    with DAG("tod_aware"):
        sensor = TimeSensor(
            task_id="close", target_time=time(9, tzinfo=timezone(timedelta(hours=2)))
        )
    assert sensor.target(interval_end(SATURDAY)) == datetime(2026, 12, 5, 7, tzinfo=UTC)


@pytest.mark.parametrize("mode", MODES)
def test_a_past_time_of_day_succeeds_at_once(mode: str) -> None:
    """A run whose interval ended on a past day finds the time of day passed at the first poke."""
    with DAG(f"tod_past_{mode}") as built:
        TimeSensor(task_id="close", target_time=time(23, 59), mode=mode)
    result = built.test(logical_date=datetime(2000, 1, 1, tzinfo=UTC))
    assert result.state is DagRunState.SUCCESS
    assert result.ti("close").try_number == 1


async def test_time_sensor_wakes_exactly_at_the_target() -> None:
    """In both modes the sensor pokes once at start and once at a target 0.3 s away."""
    async with Engine("memory://") as engine:
        now = datetime.now(UTC)
        target = now + timedelta(seconds=0.3)
        if target.date() != now.date():
            pytest.skip("the target would fall on the next day")
        with DAG("tod_punctual") as built:
            for mode in MODES:
                TimeSensor(
                    task_id=f"tod_{mode}", target_time=target.time(), poke_interval=5, mode=mode
                )
        with anyio.fail_after(LIMIT):
            result = await engine.run(built, logical_date=now)
        counts = await poke_counts(engine, "tod_punctual", result.run_id)
    assert result.state is DagRunState.SUCCESS
    assert counts == {"tod_poke": 2, "tod_reschedule": 2}
    for ti in result.task_instances:
        assert ti.end_date is not None
        assert ti.end_date >= target


@pytest.mark.parametrize(
    "given", ["18:00", datetime(2026, 1, 1, 18), 18], ids=["str", "datetime", "int"]
)
def test_time_sensor_refuses_what_is_not_a_time(given: object) -> None:
    """target_time must be a datetime.time; anything else fails with one line naming the task."""
    with DAG("tod_bad"), pytest.raises(DagDefinitionError) as error:
        TimeSensor(task_id="close", target_time=given)  # type: ignore[arg-type]
    assert str(error.value) == f"task 'close': target_time must be a datetime.time, got {given!r}"


@pytest.mark.parametrize(
    ("week_day", "done"),
    [
        ("saturday", True),
        (WeekDay.SATURDAY, True),
        ({"SATURDAY", WeekDay.SUNDAY}, True),
        (["monday", "friday"], False),
    ],
)
async def test_day_of_week_sensor_compares_the_logical_date(week_day: Any, done: bool) -> None:
    """With use_task_logical_date, a Saturday logical date matches Saturday only."""
    with DAG("dow"):
        sensor = DayOfWeekSensor(task_id="day", week_day=week_day, use_task_logical_date=True)
    assert await sensor.poke({"logical_date": SATURDAY}) is done
    assert sensor.not_before({"logical_date": SATURDAY}) is None


def test_day_of_week_sensor_runs_on_the_logical_dates_day() -> None:
    """A run on a matching logical date succeeds; on another day soft_fail skips it at timeout."""
    with DAG("dow_run") as built:
        DayOfWeekSensor(task_id="weekend", week_day="saturday", use_task_logical_date=True)
        DayOfWeekSensor(
            task_id="monday", week_day="monday", use_task_logical_date=True,
            poke_interval=0.01, timeout=0.05, soft_fail=True,
        )  # fmt: skip
    result = built.test(logical_date=SATURDAY)
    assert result.ti("weekend").state is TaskState.SUCCESS
    assert result.ti("monday").state is TaskState.SKIPPED


async def test_day_of_week_sensor_matches_today_and_waits_for_the_next_matching_day() -> None:
    """Without the logical date today decides, and the next poke is at a matching midnight."""
    today = WeekDay(datetime.now(UTC).isoweekday())
    with DAG("dow_today"):
        now_sensor = DayOfWeekSensor(task_id="today", week_day=today)
        later = DayOfWeekSensor(task_id="later", week_day=set(WeekDay) - {today})
    assert await now_sensor.poke({}) is True
    assert await later.poke({}) is False
    wake = later.not_before({})
    assert wake is not None
    assert wake.time() == time(0)
    assert wake.tzinfo is UTC
    assert wake.date() == datetime.now(UTC).date() + timedelta(days=1)


@pytest.mark.parametrize(
    ("today", "days", "expected"),
    [
        (WeekDay.FRIDAY, {WeekDay.MONDAY}, 3),
        (WeekDay.MONDAY, {WeekDay.MONDAY}, 7),
        (WeekDay.SUNDAY, {WeekDay.MONDAY, WeekDay.SATURDAY}, 1),
        (WeekDay.SATURDAY, {WeekDay.FRIDAY}, 6),
    ],
)
def test_next_matching_day_counts_days_ahead(
    today: WeekDay, days: set[WeekDay], expected: int
) -> None:
    """The next matching day is 1 to 7 days ahead, today itself counting as a week away."""
    assert next_matching_day(today, days) == expected


@pytest.mark.parametrize(
    ("week_day", "message"),
    [
        ("funday", "invalid week day 'funday': use one of MONDAY, TUESDAY,"),
        (5, "week_day must be a WeekDay, a day's name or an iterable of them, got int"),
        ([], "week_day names no day: give at least one day of the week"),
    ],
    ids=["misspelt", "number", "empty"],
)
def test_day_of_week_sensor_refuses_a_bad_week_day(week_day: object, message: str) -> None:
    """A week_day that names no day fails where the DAG is defined, with one line."""
    with DAG("dow_bad"), pytest.raises(DagDefinitionError) as error:
        DayOfWeekSensor(task_id="day", week_day=week_day)  # type: ignore[arg-type]
    assert str(error.value).startswith(f"task 'day': {message}")
    assert "\n" not in str(error.value)


def test_date_is_not_a_week_day() -> None:
    """A date is refused too: the sensor takes days of the week, not dates."""
    with DAG("dow_date"), pytest.raises(DagDefinitionError, match="invalid week day"):
        DayOfWeekSensor(task_id="day", week_day=[date(2026, 12, 5)])  # type: ignore[list-item]
