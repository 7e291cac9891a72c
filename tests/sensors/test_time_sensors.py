"""DateTimeSensor and TimeDeltaSensor: targets, wake-ups at the target, definition errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import anyio
import pytest
from sensor_helpers import LIMIT, MODES, poke_counts

from asyncflow import DAG, DagDefinitionError, DagRunState, Engine, TaskState
from sensors import DateTimeSensor, TimeDeltaSensor
from sensors.time import TIMER_SLACK, reached

pytestmark = pytest.mark.anyio

PAST = datetime(2000, 1, 1, tzinfo=UTC)


async def test_no_poke_is_wasted_before_the_target() -> None:
    """Both time sensors, in both modes, poke once at start and once at a target 0.3 s away."""
    async with Engine("memory://") as engine:
        now = datetime.now(UTC)  # taken inside the open engine: the first pokes follow at once
        target = now + timedelta(seconds=0.3)
        with DAG("punctual") as built:
            for mode in MODES:
                DateTimeSensor(target, task_id=f"datetime_{mode}", poke_interval=0.05, mode=mode)
                TimeDeltaSensor(0.3, task_id=f"timedelta_{mode}", poke_interval=0.05, mode=mode)
        with anyio.fail_after(LIMIT):
            result = await engine.run(built, logical_date=now)
        counts = await poke_counts(engine, "punctual", result.run_id)
    assert result.state is DagRunState.SUCCESS
    assert counts == dict.fromkeys(counts, 2)
    assert len(counts) == 4
    for ti in result.task_instances:
        assert ti.end_date is not None
        assert ti.end_date >= target


@pytest.mark.parametrize("mode", MODES)
def test_a_past_target_succeeds_on_the_first_poke(mode: str) -> None:
    """A target already past succeeds at once, given as a datetime, a string or a delta."""
    with DAG(f"late_{mode}") as built:
        DateTimeSensor(PAST, task_id="as_datetime", mode=mode)
        DateTimeSensor("2000-01-01T00:00:00Z", task_id="as_string", mode=mode)
        TimeDeltaSensor(timedelta(hours=-1), task_id="as_delta", mode=mode)
    result = built.test(logical_date=datetime.now(UTC))
    assert result.state is DagRunState.SUCCESS
    assert {ti.try_number for ti in result.task_instances} == {1}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (datetime(2030, 5, 1, 12, 0), datetime(2030, 5, 1, 12, 0, tzinfo=UTC)),
        (
            datetime(2030, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            datetime(2030, 5, 1, 12, 0, tzinfo=UTC),
        ),
        ("2030-05-01T12:00:00", datetime(2030, 5, 1, 12, 0, tzinfo=UTC)),
        ("2030-05-01T12:00:00Z", datetime(2030, 5, 1, 12, 0, tzinfo=UTC)),
        ("2030-05-01T13:30:00+01:30", datetime(2030, 5, 1, 12, 0, tzinfo=UTC)),
        ("2030-05-01", datetime(2030, 5, 1, tzinfo=UTC)),
    ],
    ids=["naive", "aware", "iso-naive", "iso-z", "iso-offset", "date-only"],
)
def test_target_time_is_read_as_utc(given: datetime | str, expected: datetime) -> None:
    """A naive time or string means UTC; an offset is converted; not_before is the target."""
    with DAG("targets"):
        sensor = DateTimeSensor(given, task_id="wait")
    assert sensor.target_time == expected
    assert sensor.target_time.tzinfo is UTC
    assert sensor.not_before({}) == expected


def test_timedelta_target_counts_from_the_data_interval_end() -> None:
    """TimeDeltaSensor waits for data_interval_end + delta, not logical_date + delta."""
    with DAG("intervals"):
        sensor = TimeDeltaSensor(timedelta(hours=2), task_id="wait")
    end = datetime(2030, 5, 2, tzinfo=UTC)
    context = {"logical_date": end - timedelta(days=1), "data_interval_end": end}
    assert sensor.not_before(context) == end + timedelta(hours=2)


def test_time_sensors_keep_the_default_sensor_keywords() -> None:
    """Without keywords they poke every 60 s in poke mode, like any sensor."""
    with DAG("defaults"):
        at = DateTimeSensor(PAST, task_id="at")
        after = TimeDeltaSensor(0, task_id="after")
    for sensor in (at, after):
        assert (sensor.poke_interval, sensor.mode) == (timedelta(seconds=60), "poke")


async def test_a_poke_just_before_the_target_waits_it_out() -> None:
    """A poke that comes within the timer slack of the target returns done, at the target."""
    target = datetime.now(UTC) + TIMER_SLACK / 2
    with anyio.fail_after(LIMIT):
        assert await reached(target)
    assert datetime.now(UTC) >= target


async def test_a_poke_well_before_the_target_is_not_done_at_once() -> None:
    """A poke more than the timer slack before the target says not done without waiting."""
    with anyio.fail_after(TIMER_SLACK.total_seconds() / 2):
        assert not await reached(datetime.now(UTC) + timedelta(seconds=5))


async def test_a_target_nearer_than_the_poke_interval_is_still_met_on_time() -> None:
    """With the default 60 s poke_interval a target 0.1 s away succeeds about 0.1 s later."""
    with anyio.fail_after(0.6):
        async with Engine("memory://") as engine:
            with DAG("near") as built:
                target = datetime.now(UTC) + timedelta(seconds=0.1)
                DateTimeSensor(target, task_id="wait", mode="reschedule")
            result = await engine.run(built)
    assert result.ti("wait").state is TaskState.SUCCESS


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: DateTimeSensor("tomorrow", task_id="wait"),
            "task 'wait': target_time must be an ISO-8601 date and time, got 'tomorrow'",
        ),
        (
            lambda: DateTimeSensor("{{ data_interval_end }}", task_id="wait"),
            "task 'wait': target_time must be an ISO-8601 date and time, got "
            "'{{ data_interval_end }}' (templates are not rendered)",
        ),
        (
            lambda: DateTimeSensor(1700000000, task_id="wait"),
            "task 'wait': target_time must be a datetime or an ISO-8601 string, got 1700000000",
        ),
        (
            lambda: TimeDeltaSensor("5m", task_id="wait"),
            "task 'wait': delta must be a timedelta or a number of seconds, got '5m'",
        ),
        (
            lambda: TimeDeltaSensor(True, task_id="wait"),
            "task 'wait': delta must be a timedelta or a number of seconds, got True",
        ),
        (
            lambda: TimeDeltaSensor(float("nan"), task_id="wait"),
            "task 'wait': delta must be a finite number of seconds, got nan",
        ),
    ],
    ids=["bad-string", "template", "number", "delta-string", "delta-bool", "delta-nan"],
)
def test_bad_arguments_fail_at_definition(make: Any, message: str) -> None:
    """A target or delta of the wrong kind fails when the DAG is defined, in one line."""
    with DAG("bad_time"), pytest.raises(DagDefinitionError) as info:
        make()
    assert str(info.value) == message
