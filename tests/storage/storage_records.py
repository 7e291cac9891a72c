"""Record builders shared by the storage tests (imported by module name)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from asyncflow.records import DagRunRecord, TaskInstanceRecord, XComRecord
from asyncflow.states import DagRunState, TaskState

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
"""A fixed instant with microseconds, so round trips are checked to the microsecond."""


def a_run(
    dag_id: str = "etl", run_id: str = "manual__1", offset_days: int = 0, **fields: Any
) -> DagRunRecord:
    """A queued run whose logical date is ``T0`` plus ``offset_days``."""
    values: dict[str, Any] = {
        "dag_id": dag_id,
        "run_id": run_id,
        "run_type": "manual",
        "state": DagRunState.QUEUED,
        "logical_date": T0 + timedelta(days=offset_days),
        "queued_at": T0,
    }
    values.update(fields)
    return DagRunRecord(**values)


def an_instance(
    task_id: str = "extract",
    map_index: int = -1,
    dag_id: str = "etl",
    run_id: str = "manual__1",
    **fields: Any,
) -> TaskInstanceRecord:
    """A task instance of the default run, not yet considered unless fields say so."""
    return TaskInstanceRecord(
        dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, **fields
    )


def an_xcom(
    task_id: str = "extract",
    value: str = "1",
    map_index: int = -1,
    key: str = "return_value",
    dag_id: str = "etl",
    run_id: str = "manual__1",
) -> XComRecord:
    """An XCom value of the default run."""
    return XComRecord(
        dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key, value=value
    )


def finished(
    instance: TaskInstanceRecord, state: TaskState = TaskState.SUCCESS
) -> TaskInstanceRecord:
    """The instance after one try ended in ``state``."""
    return TaskInstanceRecord(
        dag_id=instance.dag_id,
        run_id=instance.run_id,
        task_id=instance.task_id,
        map_index=instance.map_index,
        state=state,
        try_number=1,
        start_date=T0,
        end_date=T0 + timedelta(seconds=1),
    )


def rescheduled(instance: TaskInstanceRecord, poke_count: int = 1) -> TaskInstanceRecord:
    """The instance after its ``poke_count``-th poke found the condition not met yet."""
    return TaskInstanceRecord(
        dag_id=instance.dag_id,
        run_id=instance.run_id,
        task_id=instance.task_id,
        map_index=instance.map_index,
        state=TaskState.UP_FOR_RESCHEDULE,
        end_date=T0 + timedelta(seconds=poke_count),
        next_poke_at=T0 + timedelta(seconds=poke_count + 60),
        first_poke_at=T0,
        poke_count=poke_count,
    )
