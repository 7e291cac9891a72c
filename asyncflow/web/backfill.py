"""Creating a backfill's runs from the web app, without waiting for them.

Each data interval whose logical date is in ``[start, end]`` and has no run yet
gets a ``backfill__<logical date>`` run. With an engine in the process it runs
them (within the DAG's ``max_active_runs``); a separate web process stores them
``queued`` for the engine serving the store to take up, as it takes up
``asyncflow dags trigger``'s runs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from asyncflow.dag import as_utc
from asyncflow.engine.new_runs import interval_run
from asyncflow.records import TaskInstanceRecord
from asyncflow.schedule import NoSchedule
from asyncflow.states import DagRunState
from asyncflow.timetable import intervals_between
from asyncflow.web.context import WebContext
from asyncflow.web.deps import find_dag
from asyncflow.web.errors import ApiError

MAX_RUNS = 1_000
"""The most runs one backfill request may create."""


async def create_backfill(
    context: WebContext, dag_id: str, start: datetime, end: datetime
) -> tuple[list[str], list[str]]:
    """Create the missing runs; ``(created run ids, run ids that existed)``, oldest first.

    Raises:
        ApiError: 404 for an unknown DAG; 422 for a DAG without a schedule, a
            start after the end, or more than :data:`MAX_RUNS` runs.
    """
    dag = find_dag(context, dag_id)
    if isinstance(dag.schedule, NoSchedule):
        raise ApiError(422, f"DAG {dag_id!r} has no schedule, so no data intervals to backfill")
    start, end = as_utc(start), as_utc(end)
    if start > end:
        raise ApiError(422, f"start_date {start.isoformat()} is after end_date {end.isoformat()}")
    intervals = intervals_between(dag.timing, start, end)
    if len(intervals) > MAX_RUNS:
        raise ApiError(
            422, f"{len(intervals)} runs in that range; a backfill creates at most {MAX_RUNS}"
        )
    existing = {run.logical_date: run.run_id for run in await context.store.list_runs(dag_id)}
    created: list[str] = []
    for interval in intervals:
        if interval.start in existing:
            continue
        record = interval_run(dag, interval, "backfill", context.now())
        if context.engine is not None and dag_id in context.engine.dags:
            await context.engine.runs.create(dag, record)
        else:
            queued = replace(record, state=DagRunState.QUEUED, start_date=None)
            instances = [
                TaskInstanceRecord(dag_id=dag_id, run_id=record.run_id, task_id=task_id)
                for task_id in dag.task_dict
            ]
            await context.store.create_run(queued, instances)
        created.append(record.run_id)
    found = [existing[i.start] for i in intervals if i.start in existing]
    return created, found
