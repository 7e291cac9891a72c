"""Schedules: what a DAG's `schedule` accepts, and the next fire time (time passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from asyncflow.exceptions import DagDefinitionError
from asyncflow.schedule import (
    PRESETS,
    CronSchedule,
    DeltaSchedule,
    NoSchedule,
    OnceSchedule,
    Schedule,
    next_fire_after,
    parse_schedule,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ACCEPTS_PRESET = "or use a preset (@hourly, @daily, ...) or a timedelta"
ACCEPTED = (
    "use None (manual runs only), a cron expression such as '*/5 * * * *',"
    " a preset (@once, @hourly, @daily, @weekly, @monthly, @yearly) or a timedelta"
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type, misc]


def berlin(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BERLIN, fold=fold)  # type: ignore[arg-type, misc]


def cron(expression: str) -> CronSchedule:
    return CronSchedule(expression=expression)


# --- parse_schedule: what is accepted ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, NoSchedule(), id="none"),
        pytest.param("@once", OnceSchedule(), id="once"),
        pytest.param("@hourly", cron("0 * * * *"), id="hourly"),
        pytest.param("@daily", cron("0 0 * * *"), id="daily"),
        pytest.param("@midnight", cron("0 0 * * *"), id="midnight"),
        pytest.param("@weekly", cron("0 0 * * 0"), id="weekly"),
        pytest.param("@monthly", cron("0 0 1 * *"), id="monthly"),
        pytest.param("@yearly", cron("0 0 1 1 *"), id="yearly"),
        pytest.param("@annually", cron("0 0 1 1 *"), id="annually"),
        pytest.param("@Daily", cron("0 0 * * *"), id="preset-any-case"),
        pytest.param(" @once ", OnceSchedule(), id="preset-padded"),
        pytest.param("*/5 * * * *", cron("*/5 * * * *"), id="step"),
        pytest.param("0 9-17 * * 1-5", cron("0 9-17 * * 1-5"), id="ranges"),
        pytest.param("0,15,30,45 * * * *", cron("0,15,30,45 * * * *"), id="list"),
        pytest.param("10-50/20 0-23/6 * * *", cron("10-50/20 0-23/6 * * *"), id="range-step"),
        pytest.param("0 0 1 JAN-MAR MON-FRI", cron("0 0 1 JAN-MAR MON-FRI"), id="names"),
        pytest.param("0 0 * * 7", cron("0 0 * * 7"), id="sunday-as-7"),
        pytest.param("0 0 L * *", cron("0 0 L * *"), id="last-day-of-month"),
        pytest.param("0 0 * * 1#2", cron("0 0 * * 1#2"), id="second-monday"),
        pytest.param("0 0 29 2 *", cron("0 0 29 2 *"), id="leap-day"),
        pytest.param("0 0 30 2 1", cron("0 0 30 2 1"), id="day-or-weekday-fires-on-mondays"),
        pytest.param("  0   12 * * *  ", cron("0 12 * * *"), id="extra-spaces-normalised"),
        pytest.param(timedelta(hours=6), DeltaSchedule(delta=timedelta(hours=6)), id="delta"),
        pytest.param(
            timedelta(microseconds=1), DeltaSchedule(delta=timedelta(microseconds=1)), id="tiny"
        ),
    ],
)
def test_parse_accepts(value: object, expected: Schedule) -> None:
    """None, @once, every preset, valid cron and positive timedeltas parse to their meaning."""
    assert parse_schedule(value, dag_id="etl") == expected


def test_presets_table_is_airflows() -> None:
    """The preset table has Airflow's names and expressions, @once aside."""
    assert PRESETS == {
        "@hourly": "0 * * * *",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *",
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
    }


def test_schedules_are_frozen_values() -> None:
    """Parsed schedules are immutable and compare by value."""
    schedule = parse_schedule("@daily", dag_id="etl")
    with pytest.raises(AttributeError):
        schedule.expression = "* * * * *"  # type: ignore[misc, union-attr]
    assert hash(schedule) == hash(cron("0 0 * * *"))


# --- parse_schedule: what is rejected, and the exact message -------------------------


def fields_message(value: str, count: int, note: str = "") -> str:
    return (
        f"DAG 'etl': invalid schedule {value!r}: a cron expression needs 5 fields"
        f" (minute hour day month weekday), got {count}{note}, {ACCEPTS_PRESET}"
    )


def field_message(value: str, name: str, field: str, allowed: str) -> str:
    return (
        f"DAG 'etl': invalid schedule {value!r}: the {name} field {field!r} is not valid"
        f" (allowed: {allowed}, with *, ranges a-b, lists a,b and steps /n), {ACCEPTS_PRESET}"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("*/5 * * *", fields_message("*/5 * * *", 4), id="4-fields"),
        pytest.param(
            "0 */5 * * * *",
            fields_message("0 */5 * * * *", 6, " (a seconds field is not supported)"),
            id="6-fields-seconds",
        ),
        pytest.param(
            "0 0 * * * * 2030",
            fields_message("0 0 * * * * 2030", 7, " (seconds and year fields are not supported)"),
            id="7-fields",
        ),
        pytest.param("garbage", fields_message("garbage", 1), id="garbage"),
        pytest.param("* * * * * * * *", fields_message("* * * * * * * *", 8), id="8-fields"),
        pytest.param(
            "61 * * * *", field_message("61 * * * *", "minute", "61", "0-59"), id="minute"
        ),
        pytest.param("0 24 * * *", field_message("0 24 * * *", "hour", "24", "0-23"), id="hour"),
        pytest.param(
            "0 0 0 * *", field_message("0 0 0 * *", "day-of-month", "0", "1-31"), id="day-zero"
        ),
        pytest.param(
            "0 0 32 * *", field_message("0 0 32 * *", "day-of-month", "32", "1-31"), id="day-32"
        ),
        pytest.param(
            "0 0 * 13 *",
            field_message("0 0 * 13 *", "month", "13", "1-12 or JAN-DEC"),
            id="month-13",
        ),
        pytest.param(
            "0 0 * * 8",
            field_message("0 0 * * 8", "day-of-week", "8", "0-6 or SUN-SAT"),
            id="weekday-8",
        ),
        pytest.param(
            "*/0 * * * *", field_message("*/0 * * * *", "minute", "*/0", "0-59"), id="step-zero"
        ),
        pytest.param(
            "1,,2 * * * *", field_message("1,,2 * * * *", "minute", "1,,2", "0-59"), id="empty-item"
        ),
        pytest.param("a b c d e", field_message("a b c d e", "minute", "a", "0-59"), id="letters"),
        pytest.param(
            "H * * * *", field_message("H * * * *", "minute", "H", "0-59"), id="jenkins-hash"
        ),
        pytest.param(
            "0 0 31 2 *",
            "DAG 'etl': invalid schedule '0 0 31 2 *': it never fires (no date matches its day"
            f" and month fields, e.g. 31 in a 30-day month), {ACCEPTS_PRESET}",
            id="never-fires",
        ),
        pytest.param(
            "0 0 31 4,6,9,11 *",
            "DAG 'etl': invalid schedule '0 0 31 4,6,9,11 *': it never fires (no date matches"
            f" its day and month fields, e.g. 31 in a 30-day month), {ACCEPTS_PRESET}",
            id="never-fires-30-day-months",
        ),
        pytest.param(
            "", f"DAG 'etl': invalid schedule '': the schedule is empty; {ACCEPTED}", id="empty"
        ),
        pytest.param(
            "   ",
            f"DAG 'etl': invalid schedule '   ': the schedule is empty; {ACCEPTED}",
            id="blank",
        ),
        pytest.param(
            "@reboot",
            "DAG 'etl': invalid schedule '@reboot': unknown preset; the presets are @once,"
            " @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually",
            id="unknown-preset",
        ),
        pytest.param(
            300,
            "DAG 'etl': invalid schedule 300: a number is not a schedule; use"
            " timedelta(seconds=300) for an interval, or a cron expression or a preset"
            " (@hourly, @daily, ...)",
            id="int",
        ),
        pytest.param(
            1.5,
            "DAG 'etl': invalid schedule 1.5: a number is not a schedule; use"
            " timedelta(seconds=1.5) for an interval, or a cron expression or a preset"
            " (@hourly, @daily, ...)",
            id="float",
        ),
        pytest.param(
            True, f"DAG 'etl': invalid schedule True (bool): {ACCEPTED}", id="bool-is-not-a-number"
        ),
        pytest.param(
            ["@daily"], f"DAG 'etl': invalid schedule ['@daily'] (list): {ACCEPTED}", id="list"
        ),
        pytest.param(
            b"@daily", f"DAG 'etl': invalid schedule b'@daily' (bytes): {ACCEPTED}", id="bytes"
        ),
        pytest.param(
            utc(2024, 1, 1),
            "DAG 'etl': invalid schedule datetime.datetime(2024, 1, 1, 0, 0,"
            f" tzinfo=datetime.timezone.utc) (datetime): {ACCEPTED}",
            id="datetime",
        ),
        pytest.param(
            timedelta(0),
            "DAG 'etl': invalid schedule datetime.timedelta(0): a timedelta schedule must be"
            " positive, e.g. timedelta(hours=1)",
            id="zero-delta",
        ),
        pytest.param(
            timedelta(hours=-1),
            "DAG 'etl': invalid schedule datetime.timedelta(days=-1, seconds=82800): a timedelta"
            " schedule must be positive, e.g. timedelta(hours=1)",
            id="negative-delta",
        ),
    ],
)
def test_parse_rejects_with_one_line(value: object, message: str) -> None:
    """Invalid schedules raise DagDefinitionError naming the DAG, the value and what is accepted."""
    with pytest.raises(DagDefinitionError) as caught:
        parse_schedule(value, dag_id="etl")
    assert str(caught.value) == message
    assert "\n" not in message


# --- next_fire_after -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        pytest.param("0 * * * *", utc(2024, 1, 1, 10, 30), utc(2024, 1, 1, 11), id="hourly"),
        pytest.param("0 * * * *", utc(2024, 1, 1, 10), utc(2024, 1, 1, 11), id="strictly-after"),
        pytest.param(
            "0 * * * *",
            utc(2024, 1, 1, 10, 59, 59, 999999),
            utc(2024, 1, 1, 11),
            id="one-microsecond-before",
        ),
        pytest.param("*/5 * * * *", utc(2024, 1, 1, 10, 7), utc(2024, 1, 1, 10, 10), id="step"),
        pytest.param("0 0 * * *", utc(2024, 12, 31, 0), utc(2025, 1, 1), id="year-end"),
        pytest.param("0 0 1 * *", utc(2024, 1, 31, 12), utc(2024, 2, 1), id="month-start"),
        pytest.param("0 0 31 * *", utc(2024, 1, 31), utc(2024, 3, 31), id="31st-skips-february"),
        pytest.param("0 0 30 * *", utc(2024, 1, 30), utc(2024, 3, 30), id="30th-skips-february"),
        pytest.param("0 0 L * *", utc(2024, 2, 1), utc(2024, 2, 29), id="last-day-leap-february"),
        pytest.param("0 0 L * *", utc(2023, 2, 1), utc(2023, 2, 28), id="last-day-february"),
        pytest.param("0 0 L * *", utc(2024, 4, 1), utc(2024, 4, 30), id="last-day-april"),
        pytest.param("0 0 29 2 *", utc(2023, 1, 1), utc(2024, 2, 29), id="leap-day"),
        pytest.param("0 0 29 2 *", utc(2024, 2, 29), utc(2028, 2, 29), id="next-leap-day"),
        pytest.param("0 0 29 2 *", utc(2096, 3, 1), utc(2104, 2, 29), id="2100-is-not-leap"),
        pytest.param("0 0 * * 0", utc(2024, 1, 1), utc(2024, 1, 7), id="weekly-sunday"),
        pytest.param("0 0 * * 7", utc(2024, 1, 1), utc(2024, 1, 7), id="sunday-as-7"),
        pytest.param("0 9 * * 1-5", utc(2024, 1, 5, 10), utc(2024, 1, 8, 9), id="skips-weekend"),
        pytest.param("0 0 1 1 *", utc(2024, 6, 1), utc(2025, 1, 1), id="yearly"),
        pytest.param("0 0 * * 1#2", utc(2024, 1, 1), utc(2024, 1, 8), id="second-monday"),
    ],
)
def test_cron_next_fire_in_utc(expression: str, after: datetime, expected: datetime) -> None:
    """A cron schedule anchored in UTC fires at its next match strictly after `after`."""
    start = utc(2000, 1, 1)
    assert next_fire_after(cron(expression), after, start=start) == expected


def test_cron_result_is_in_the_zone_of_after() -> None:
    """The fire time comes back in `after`'s time zone; the cron runs in `start`'s."""
    after = datetime(2024, 1, 1, 12, tzinfo=NEW_YORK)  # 18:00 in Berlin
    fire = next_fire_after(cron("0 20 * * *"), after, start=berlin(2020, 1, 1))
    assert fire == berlin(2024, 1, 1, 20)
    assert fire is not None
    assert fire.tzinfo is NEW_YORK
    assert fire.hour == 14


def test_cron_runs_on_a_fixed_offset_start() -> None:
    """A start with a fixed UTC offset reads the cron on that offset's clock."""
    plus5 = timezone(timedelta(hours=5))
    fire = next_fire_after(
        cron("0 6 * * *"), utc(2024, 1, 1), start=datetime(2020, 1, 1, tzinfo=plus5)
    )
    assert fire == utc(2024, 1, 1, 1)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        pytest.param(utc(2023, 1, 1), utc(2024, 1, 1, 0), id="before-start-fires-at-start"),
        pytest.param(utc(2023, 12, 31, 23, 59), utc(2024, 1, 1, 0), id="just-before-start"),
        pytest.param(utc(2024, 1, 1, 0), utc(2024, 1, 1, 1), id="at-start"),
    ],
)
def test_cron_never_fires_before_start(after: datetime, expected: datetime) -> None:
    """Cron fire times before `start` are skipped; a match at `start` itself counts."""
    fire = next_fire_after(cron("0 * * * *"), after, start=utc(2024, 1, 1))
    assert fire == expected


def test_cron_start_between_matches() -> None:
    """With `start` between two matches, the first fire is the next match after it."""
    fire = next_fire_after(cron("0 0 * * *"), utc(2020, 1, 1), start=utc(2024, 1, 1, 12))
    assert fire == utc(2024, 1, 2)


# Europe/Berlin, 2024: clocks spring forward on 31 March at 02:00 CET -> 03:00 CEST
# (02:00-02:59 does not exist) and fall back on 27 October at 03:00 CEST -> 02:00 CET
# (02:00-02:59 happens twice: first CEST, +02:00, then CET, +01:00).


# Compare fire times with `in_utc`: an aware datetime in a repeated hour never equals
# one in another zone (PEP 495), even at the same instant.
def fires(schedule: Schedule, after: datetime, count: int, start: datetime) -> list[datetime]:
    times = []
    for _ in range(count):
        fire = next_fire_after(schedule, after, start=start)
        assert fire is not None
        times.append(fire)
        after = fire
    return times


def in_utc(times: list[datetime]) -> list[datetime]:
    return [t.astimezone(UTC) for t in times]


@pytest.mark.parametrize(
    ("after", "expected_utc"),
    [
        pytest.param(
            berlin(2024, 3, 29, 12),
            [utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 30), utc(2024, 4, 1, 0, 30)],
            id="spring-forward",
        ),
        pytest.param(
            berlin(2024, 10, 25, 12),
            [utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 1, 30), utc(2024, 10, 28, 1, 30)],
            id="fall-back",
        ),
    ],
)
def test_berlin_0230_daily_across_dst(after: datetime, expected_utc: list[datetime]) -> None:
    """02:30 daily fires once a day: in the gap at 03:30 CEST, in the repeat at 02:30 CET."""
    times = fires(cron("30 2 * * *"), after, 3, start=berlin(2024, 1, 1))
    assert in_utc(times) == expected_utc
    assert [(t.hour, t.minute) for t in times] == (
        [(2, 30), (3, 30), (2, 30)] if after.month == 3 else [(2, 30), (2, 30), (2, 30)]
    )
    assert [t.utcoffset() for t in times] == (
        [timedelta(hours=h) for h in (1, 2, 2)]
        if after.month == 3
        else [timedelta(hours=h) for h in (2, 1, 1)]
    )


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        pytest.param(
            utc(2024, 10, 27, 0, 15), utc(2024, 10, 27, 1, 30), id="in-first-pass-before-0230"
        ),
        pytest.param(
            utc(2024, 10, 27, 0, 45), utc(2024, 10, 27, 1, 30), id="in-first-pass-after-0230"
        ),
        pytest.param(
            utc(2024, 10, 27, 1, 15), utc(2024, 10, 27, 1, 30), id="in-second-pass-before-0230"
        ),
        pytest.param(utc(2024, 10, 27, 1, 30), utc(2024, 10, 28, 1, 30), id="at-the-fire"),
        pytest.param(utc(2024, 3, 31, 1, 0), utc(2024, 3, 31, 1, 30), id="spring-at-the-jump"),
        pytest.param(utc(2024, 3, 31, 1, 30), utc(2024, 4, 1, 0, 30), id="spring-at-the-fire"),
    ],
)
def test_berlin_0230_from_inside_the_dst_change(after: datetime, expected: datetime) -> None:
    """From any instant inside the repeated hour or at the jump, the next 02:30 fire is right."""
    fire = next_fire_after(cron("30 2 * * *"), after, start=berlin(2024, 1, 1))
    assert fire == expected
    assert fire.tzinfo is UTC


def test_hourly_in_berlin_keeps_pace_across_spring_forward() -> None:
    """Hourly in Berlin fires every real hour across the gap, once at 03:00 CEST."""
    times = fires(cron("0 * * * *"), berlin(2024, 3, 31, 0, 30), 4, start=berlin(2024, 1, 1))
    assert in_utc(times) == [utc(2024, 3, 31, h) for h in (0, 1, 2, 3)]
    assert [t.hour for t in times] == [1, 3, 4, 5]


def test_hourly_in_berlin_fires_both_repeated_hours_at_fall_back() -> None:
    """Hourly in Berlin fires at 02:00 CEST and again at 02:00 CET: every real hour."""
    times = fires(cron("0 * * * *"), berlin(2024, 10, 27, 0, 30), 5, start=berlin(2024, 1, 1))
    assert in_utc(times) == [utc(2024, 10, 26, 23)] + [utc(2024, 10, 27, h) for h in (0, 1, 2, 3)]
    assert [t.hour for t in times] == [1, 2, 2, 3, 4]


def test_every_20_minutes_from_inside_the_first_pass() -> None:
    """*/20 from 02:45 CEST continues at 02:00 CET: the second pass is not skipped."""
    after = utc(2024, 10, 27, 0, 45)  # 02:45 CEST
    times = fires(cron("*/20 * * * *"), after, 3, start=berlin(2024, 1, 1))
    assert in_utc(times) == [
        utc(2024, 10, 27, 1, 0),
        utc(2024, 10, 27, 1, 20),
        utc(2024, 10, 27, 1, 40),
    ]


def test_every_two_hours_fires_once_in_the_repeated_hour() -> None:
    """A schedule that skips some hours is wall-clock: 02:00 fires once, at the CET pass."""
    times = fires(cron("0 */2 * * *"), berlin(2024, 10, 26, 23), 3, start=berlin(2024, 1, 1))
    assert in_utc(times) == [utc(2024, 10, 26, 22), utc(2024, 10, 27, 1), utc(2024, 10, 27, 3)]


def test_utc_start_ignores_local_dst() -> None:
    """With a UTC start, 02:30 means 02:30 UTC whatever `after`'s zone does."""
    times = fires(cron("30 2 * * *"), berlin(2024, 3, 30, 12), 2, start=utc(2024, 1, 1))
    assert times == [utc(2024, 3, 31, 2, 30), utc(2024, 4, 1, 2, 30)]


@pytest.mark.parametrize(
    ("delta", "start", "after", "expected"),
    [
        pytest.param(
            timedelta(hours=6), utc(2024, 1, 1), utc(2023, 1, 1), utc(2024, 1, 1), id="before-start"
        ),
        pytest.param(
            timedelta(hours=6), utc(2024, 1, 1), utc(2024, 1, 1), utc(2024, 1, 1, 6), id="at-start"
        ),
        pytest.param(
            timedelta(hours=6),
            utc(2024, 1, 1),
            utc(2024, 1, 1, 5, 59),
            utc(2024, 1, 1, 6),
            id="between",
        ),
        pytest.param(
            timedelta(hours=6),
            utc(2024, 1, 1),
            utc(2024, 1, 1, 6),
            utc(2024, 1, 1, 12),
            id="on-a-fire-time",
        ),
        pytest.param(
            timedelta(minutes=7),
            utc(2024, 1, 1, 0, 3),
            utc(2024, 1, 1, 1),
            utc(2024, 1, 1, 1, 6),
            id="anchored-on-start-not-the-hour",
        ),
        pytest.param(
            timedelta(days=1),
            utc(2024, 2, 28, 12),
            utc(2024, 2, 28, 12),
            utc(2024, 2, 29, 12),
            id="leap-day",
        ),
        pytest.param(
            timedelta(days=30),
            utc(2024, 1, 31),
            utc(2024, 2, 1),
            utc(2024, 3, 1),
            id="days-not-months",
        ),
        pytest.param(
            timedelta(days=1),
            berlin(2024, 3, 30, 2, 30),
            berlin(2024, 3, 30, 12),
            utc(2024, 3, 31, 1, 30),
            id="berlin-real-time-across-dst",
        ),
        pytest.param(
            timedelta(microseconds=1),
            utc(2024, 1, 1),
            utc(2024, 1, 1, 0, 0, 0, 41),
            utc(2024, 1, 1, 0, 0, 0, 42),
            id="microseconds",
        ),
    ],
)
def test_delta_fires_at_start_plus_multiples(
    delta: timedelta, start: datetime, after: datetime, expected: datetime
) -> None:
    """A timedelta schedule fires at start + k*delta in real time, strictly after `after`."""
    assert next_fire_after(DeltaSchedule(delta=delta), after, start=start) == expected


def test_delta_in_berlin_drifts_an_hour_across_dst() -> None:
    """A daily timedelta counts real hours, so its Berlin wall time moves at a DST change."""
    times = fires(
        DeltaSchedule(delta=timedelta(days=1)),
        berlin(2024, 3, 30, 12),
        2,
        start=berlin(2024, 3, 30, 2, 30),
    )
    assert [(t.hour, t.minute) for t in times] == [(3, 30), (3, 30)]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        pytest.param(utc(2023, 1, 1), utc(2024, 1, 1), id="before-start"),
        pytest.param(utc(2023, 12, 31, 23, 59, 59, 999999), utc(2024, 1, 1), id="just-before"),
        pytest.param(utc(2024, 1, 1), None, id="at-start"),
        pytest.param(utc(2025, 1, 1), None, id="after-start"),
    ],
)
def test_once_fires_at_start_only(after: datetime, expected: datetime | None) -> None:
    """@once fires at `start` if that is still ahead, then never again."""
    assert next_fire_after(OnceSchedule(), after, start=utc(2024, 1, 1)) == expected


def test_once_result_is_in_the_zone_of_after() -> None:
    """@once returns `start` converted to `after`'s zone."""
    fire = next_fire_after(OnceSchedule(), berlin(2023, 1, 1), start=utc(2024, 1, 1))
    assert fire == utc(2024, 1, 1)
    assert fire is not None
    assert fire.tzinfo is BERLIN


def test_no_schedule_never_fires() -> None:
    """A manual-only DAG has no fire times."""
    assert next_fire_after(NoSchedule(), utc(2024, 1, 1), start=utc(2020, 1, 1)) is None


@pytest.mark.parametrize(
    "schedule",
    [
        pytest.param(cron("0 0 1 1 *"), id="cron"),
        pytest.param(DeltaSchedule(delta=timedelta(days=400)), id="delta"),
    ],
)
def test_no_fire_time_past_year_9999(schedule: Schedule) -> None:
    """Past the last representable datetime there is no next fire time, not an error."""
    after = datetime(9999, 6, 1, tzinfo=UTC)
    assert next_fire_after(schedule, after, start=utc(2000, 1, 1)) is None


@pytest.mark.parametrize(
    ("after", "start", "name"),
    [
        pytest.param(datetime(2024, 1, 1), utc(2024, 1, 1), "after", id="naive-after"),
        pytest.param(utc(2024, 1, 1), datetime(2024, 1, 1), "start", id="naive-start"),
    ],
)
def test_naive_datetimes_are_refused(after: datetime, start: datetime, name: str) -> None:
    """`after` and `start` must be aware; a naive one is a programming error."""
    with pytest.raises(ValueError, match=f"aware {name}"):
        next_fire_after(cron("0 * * * *"), after, start=start)
