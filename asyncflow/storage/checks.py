"""Checks every store applies to what callers hand it, before anything is written.

Both backends call these, so the in-memory store rejects exactly what the SQLite
store rejects. They raise ``ValueError`` for a caller's mistake (a naive
datetime, a conf that is not JSON, an instance handed to the wrong run or task);
failures of the store itself are :class:`~asyncflow.exceptions.StoreError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from asyncflow.records import DagRunRecord, TaskInstanceRecord, XComRecord
from asyncflow.states import TaskState

_RUN_DATETIMES = (
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "queued_at",
    "start_date",
    "end_date",
)
_INSTANCE_DATETIMES = (
    "start_date",
    "end_date",
    "next_attempt_at",
    "next_poke_at",
    "first_poke_at",
    "lease_expires_at",
)


def utc_run(run: DagRunRecord) -> DagRunRecord:
    """The run with every datetime in UTC (the same object when they already are).

    Raises:
        ValueError: a datetime is naive.
    """
    for value in (
        run.logical_date,
        run.data_interval_start,
        run.data_interval_end,
        run.queued_at,
        run.start_date,
        run.end_date,
    ):
        if value is not None and value.tzinfo is not UTC:
            return replace(run, **_to_utc(run, _RUN_DATETIMES, f"run {run.dag_id}/{run.run_id}"))
    return run


def utc_instance(instance: TaskInstanceRecord) -> TaskInstanceRecord:
    """The instance with every datetime in UTC (the same object when they already are).

    Raises:
        ValueError: a datetime is naive.
    """
    # The fast path runs for every instance written, so it reads attributes directly.
    for value in (
        instance.start_date,
        instance.end_date,
        instance.next_attempt_at,
        instance.next_poke_at,
        instance.first_poke_at,
        instance.lease_expires_at,
    ):
        if value is not None and value.tzinfo is not UTC:
            changes = _to_utc(instance, _INSTANCE_DATETIMES, _describe(instance))
            return replace(instance, **changes)
    return instance


def utc_time(value: datetime, operation: str) -> datetime:
    """``value`` in UTC.

    Raises:
        ValueError: it is naive.
    """
    if value.tzinfo is UTC:
        return value
    if value.utcoffset() is None:
        raise ValueError(f"{operation}: a naive datetime; records hold timezone-aware UTC")
    return value.astimezone(UTC)


def stopped(instance: TaskInstanceRecord, at: datetime, error: str) -> TaskInstanceRecord:
    """An unfinished instance of a run stopped early: a running try fails, the rest skip."""
    if instance.state is TaskState.RUNNING:
        return replace(
            instance,
            state=TaskState.FAILED,
            end_date=at,
            owner=None,
            lease_expires_at=None,
            error=error,
        )
    return replace(
        instance,
        state=TaskState.SKIPPED,
        start_date=instance.start_date or at,
        end_date=at,
        owner=None,
        lease_expires_at=None,
    )


def utc_instances(instances: Sequence[TaskInstanceRecord]) -> list[TaskInstanceRecord]:
    """:func:`utc_instance` over a sequence."""
    return [utc_instance(instance) for instance in instances]


def _to_utc(
    record: DagRunRecord | TaskInstanceRecord, names: tuple[str, ...], what: str
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in names:
        value: datetime | None = getattr(record, name)
        if value is None or value.tzinfo is UTC:
            continue
        if value.utcoffset() is None:
            raise ValueError(
                f"{name} of {what} is a naive datetime; records hold timezone-aware UTC"
            )
        changes[name] = value.astimezone(UTC)
    return changes


def conf_json(run: DagRunRecord) -> str:
    """The run's conf as JSON text.

    Raises:
        ValueError: the conf is not JSON (a non-JSON type, NaN or a circular value).
    """
    try:
        return json.dumps(run.conf, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"conf of run {run.dag_id}/{run.run_id} is not JSON: {exc}") from exc


def check_run_instances(run: DagRunRecord, instances: Sequence[TaskInstanceRecord]) -> None:
    """Check that every instance belongs to ``run``.

    Raises:
        ValueError: an instance names another run.
    """
    for instance in instances:
        if instance.dag_id != run.dag_id or instance.run_id != run.run_id:
            raise ValueError(
                f"create_run: {_describe(instance)} does not belong to run "
                f"{run.dag_id}/{run.run_id}"
            )


def check_expansion(
    dag_id: str, run_id: str, task_id: str, instances: Sequence[TaskInstanceRecord]
) -> None:
    """Check that every instance is a mapped instance (map_index >= 0) of the task.

    Raises:
        ValueError: an instance names another task, or has a negative map_index.
    """
    for instance in instances:
        if (instance.dag_id, instance.run_id, instance.task_id) != (dag_id, run_id, task_id):
            raise ValueError(
                f"expand_task: {_describe(instance)} is not an instance of "
                f"{dag_id}/{run_id}/{task_id}"
            )
        if instance.map_index < 0:
            raise ValueError(f"expand_task: {_describe(instance)} needs a map_index >= 0")


def check_reschedule(instance: TaskInstanceRecord) -> None:
    """Check that ``instance`` is a sensor between pokes: up_for_reschedule with a next poke.

    Raises:
        ValueError: it is in another state or has no ``next_poke_at``.
    """
    if instance.state is not TaskState.UP_FOR_RESCHEDULE or instance.next_poke_at is None:
        raise ValueError(
            f"record_reschedule: {_describe(instance)} must be up_for_reschedule "
            f"with a next_poke_at, not {instance.state} with {instance.next_poke_at}"
        )


def check_xcoms(
    instance: TaskInstanceRecord,
    xcoms: Sequence[XComRecord],
    operation: str,
) -> None:
    """Check that every XCom value was produced by ``instance``.

    Raises:
        ValueError: an XCom value names another task instance.
    """
    for xcom in xcoms:
        if (xcom.dag_id, xcom.run_id, xcom.task_id, xcom.map_index) != instance.key:
            raise ValueError(
                f"{operation}: XCom {xcom.key!r} of "
                f"{xcom.dag_id}/{xcom.run_id}/{xcom.task_id}[{xcom.map_index}] "
                f"was not produced by {_describe(instance)}"
            )


def _describe(instance: TaskInstanceRecord) -> str:
    return (
        f"task instance {instance.dag_id}/{instance.run_id}/{instance.task_id}"
        f"[{instance.map_index}]"
    )
