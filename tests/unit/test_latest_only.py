"""LatestOnlyOperator: downstream work runs only in the latest scheduled run, and in manual ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from asyncflow import DAG, EmptyOperator, Engine, LatestOnlyOperator, TaskState, TriggerRule
from asyncflow.testing import MemoryStore
from asyncflow.timetable import DataInterval, Timing, is_latest_interval

DAY = timedelta(days=1)
START = datetime(2026, 1, 1, tzinfo=UTC)


def daily(end_date: datetime | None = None) -> Timing:
    """The timing of a daily DAG from START."""
    with DAG("timing", schedule="@daily", start_date=START, end_date=end_date) as built:
        pass
    return built.timing


def interval(day: int) -> DataInterval:
    """The daily interval starting on January ``day``, 2026."""
    start = START + (day - 1) * DAY
    return DataInterval(start, start + DAY)


@pytest.mark.parametrize(
    ("now", "latest"),
    [
        (datetime(2026, 1, 2, 0, 0, tzinfo=UTC), False),  # the run is due from 00:00 on
        (datetime(2026, 1, 2, 0, 0, 1, tzinfo=UTC), True),
        (datetime(2026, 1, 2, 23, 0, tzinfo=UTC), True),
        (datetime(2026, 1, 3, 0, 0, tzinfo=UTC), True),  # up to the next run's due time
        (datetime(2026, 1, 3, 0, 0, 1, tzinfo=UTC), False),
        (datetime(2026, 3, 1, tzinfo=UTC), False),
    ],
)
def test_a_run_is_the_latest_until_the_next_one_is_due(now: datetime, latest: bool) -> None:
    """January 1st's daily run is the latest after it is due and until January 2nd's is."""
    assert is_latest_interval(daily(), interval(1), now) is latest


def test_end_date_does_not_make_the_last_run_the_latest_for_good() -> None:
    """As in Airflow, the window ignores end_date: an old last run is not the latest."""
    timing = daily(end_date=datetime(2026, 1, 5, tzinfo=UTC))
    assert is_latest_interval(timing, interval(5), datetime(2026, 1, 6, 12, tzinfo=UTC))
    assert not is_latest_interval(timing, interval(5), datetime(2030, 1, 1, tzinfo=UTC))


def test_every_once_run_is_the_latest() -> None:
    """@once has no next interval, so its run never skips what follows."""
    with DAG("once", schedule="@once", start_date=START) as built:
        pass
    assert is_latest_interval(built.timing, DataInterval(START, START), START + 400 * DAY)


def build_latest_only_dag(start_date: datetime) -> DAG:
    """Airflow's example_latest_only_with_trigger, with its trigger rules."""
    with DAG("latest_only", schedule="@daily", start_date=start_date) as built:
        latest_only = LatestOnlyOperator(task_id="latest_only")
        task1 = EmptyOperator(task_id="task1")
        task2 = EmptyOperator(task_id="task2")
        task3 = EmptyOperator(task_id="task3")
        task4 = EmptyOperator(task_id="task4", trigger_rule=TriggerRule.ALL_DONE)
        latest_only >> task1 >> [task3, task4]
        task2 >> [task3, task4]
    return built


def test_a_manual_run_skips_nothing() -> None:
    """In a manual run every task runs, whatever its logical date."""
    built = build_latest_only_dag(datetime(2020, 1, 1, tzinfo=UTC))
    result = built.test(logical_date=datetime(2020, 1, 5, tzinfo=UTC))
    assert {ti.task_id: ti.state for ti in result.task_instances} == dict.fromkeys(
        ["latest_only", "task1", "task2", "task3", "task4"], TaskState.SUCCESS
    )
    assert result.xcom("latest_only") == ["task1"]


@pytest.mark.anyio
async def test_only_the_latest_backfilled_interval_runs_what_follows() -> None:
    """Past backfilled days skip task1 and task3 (task4 is all_done); the latest skips none."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    built = build_latest_only_dag(today - 10 * DAY)
    async with Engine(MemoryStore(), dags=[built]) as engine:
        with anyio.fail_after(10):
            runs = await engine.backfill("latest_only", today - 3 * DAY, today - DAY)
    old, latest = runs[0], runs[-1]
    states = {ti.task_id: ti.state for ti in old.task_instances}
    assert states == {
        "latest_only": TaskState.SUCCESS,
        "task1": TaskState.SKIPPED,
        "task2": TaskState.SUCCESS,
        "task3": TaskState.SKIPPED,
        "task4": TaskState.SUCCESS,
    }
    assert old.xcom("latest_only") == []
    assert {ti.state for ti in latest.task_instances} == {TaskState.SUCCESS}
