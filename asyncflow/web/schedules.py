"""How a DAG's schedule reads on a page, and when it fires next."""

from __future__ import annotations

from datetime import datetime

from asyncflow.dag import DAG
from asyncflow.schedule import CronSchedule, DeltaSchedule, OnceSchedule, next_fire_after


def describe_schedule(dag: DAG) -> str:
    """``None``, ``@once``, the cron expression, or the interval."""
    schedule = dag.schedule
    if isinstance(schedule, CronSchedule):
        return schedule.expression
    if isinstance(schedule, DeltaSchedule):
        return str(schedule.delta)
    if isinstance(schedule, OnceSchedule):
        return "@once"
    return "None"


def next_fire(dag: DAG, now: datetime) -> datetime | None:
    """The schedule's next fire time after ``now`` (``None``: manual, or past its end)."""
    if dag.start_date is None or describe_schedule(dag) == "None":
        return None
    when = next_fire_after(dag.schedule, now, start=dag.start_date)
    if when is not None and dag.end_date is not None and when > dag.end_date:
        return None
    return when
