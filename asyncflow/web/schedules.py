"""How a DAG's schedule reads on a page, and when it fires next."""

from __future__ import annotations

from datetime import datetime

from asyncflow.dag import DAG
from asyncflow.schedule import describe_schedule, next_fire_after


def schedule_text(dag: DAG) -> str:
    """``None``, ``@once``, the cron expression, or the interval of the DAG's schedule."""
    return describe_schedule(dag.schedule)


def next_fire(dag: DAG, now: datetime) -> datetime | None:
    """The schedule's next fire time after ``now`` (``None``: manual, or past its end)."""
    if dag.start_date is None or schedule_text(dag) == "None":
        return None
    when = next_fire_after(dag.schedule, now, start=dag.start_date)
    if when is not None and dag.end_date is not None and when > dag.end_date:
        return None
    return when
