"""The records of new runs: manual, scheduled and backfill, with their run ids.

``manual__<logical date>``, ``scheduled__<logical date>`` and
``backfill__<logical date>``, the date in ISO-8601 UTC with microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from asyncflow.dag import DAG, as_utc
from asyncflow.exceptions import EngineError
from asyncflow.params import resolve_params
from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.results import DagRunResult
from asyncflow.states import DagRunState
from asyncflow.storage.protocol import Store
from asyncflow.timetable import DataInterval


async def queue_manual_run(
    store: Store,
    dag: DAG,
    conf: Mapping[str, Any] | None,
    logical_date: datetime | None,
    now: datetime,
) -> DagRunResult | None:
    """Store a manual run as ``queued`` for the engine owning the store to run.

    Needs no ownership of the store: it is a request the owner picks up. Returns
    the new run, or ``None`` when its run_id exists already (nothing changed).
    """
    record = replace(manual_run(dag, conf, logical_date, now), state=DagRunState.QUEUED)
    record = replace(record, start_date=None)
    instances = [
        TaskInstanceRecord(dag_id=dag.dag_id, run_id=record.run_id, task_id=task_id)
        for task_id in dag.task_dict
    ]
    if not await store.create_run(record, instances):
        return None
    return DagRunResult.build(record, instances)


def manual_run(
    dag: DAG, conf: Mapping[str, Any] | None, logical_date: datetime | None, now: datetime
) -> DagRunRecord:
    """A manual run (``logical_date`` defaults to now), its conf checked to be JSON.

    Raises:
        ParamValidationError: the conf does not satisfy the DAG's params.
    """
    conf = checked_conf(conf, dag.dag_id)
    resolve_params(dag.params, conf, f"DAG {dag.dag_id!r}")
    logical = as_utc(logical_date) if logical_date is not None else now
    return DagRunRecord(
        dag_id=dag.dag_id,
        run_id=f"manual__{logical.isoformat(timespec='microseconds')}",
        run_type="manual",
        state=DagRunState.RUNNING,
        logical_date=logical,
        data_interval_start=logical,
        data_interval_end=logical,
        conf=conf,
        queued_at=now,
        start_date=now,
    )


def interval_run(dag: DAG, interval: DataInterval, run_type: str, now: datetime) -> DagRunRecord:
    """A scheduled or backfill run of one data interval."""
    return DagRunRecord(
        dag_id=dag.dag_id,
        run_id=run_id_for(run_type, interval),
        run_type=run_type,
        state=DagRunState.RUNNING,
        logical_date=interval.start,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        queued_at=now,
        start_date=now,
    )


def run_id_for(run_type: str, interval: DataInterval) -> str:
    """``scheduled__<logical date>`` or ``backfill__<logical date>``."""
    return f"{run_type}__{interval.start.isoformat(timespec='microseconds')}"


def checked_pools(pools: Mapping[str, int] | None) -> dict[str, int]:
    """Pool sizes, each a positive whole number.

    Raises:
        EngineError: naming the pool and its bad size.
    """
    checked: dict[str, int] = {}
    for name, slots in (pools or {}).items():
        if (
            not isinstance(name, str)
            or isinstance(slots, bool)
            or not isinstance(slots, int)
            or slots < 1
        ):
            raise EngineError(
                f"pool {name!r} needs a positive whole number of slots, got {slots!r}"
            )
        checked[name] = slots
    return checked


def checked_conf(conf: Mapping[str, Any] | None, dag_id: str) -> dict[str, Any]:
    """A run's conf: a dict that JSON can hold.

    Raises:
        EngineError: naming the DAG and what is wrong.
    """
    if conf is None:
        return {}
    if not isinstance(conf, Mapping):
        raise EngineError(f"conf for DAG {dag_id!r} must be a dict, got {type(conf).__name__}")
    try:
        json.dumps(conf, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise EngineError(f"conf for DAG {dag_id!r} must be JSON: {error}") from None
    return dict(conf)
