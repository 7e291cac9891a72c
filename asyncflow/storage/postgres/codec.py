"""Records to query parameters and back, in the parameter order of ``queries.sql``.

asyncpg speaks Python's own types: datetimes go and come back as aware UTC
datetimes (records reach the builders already normalised to UTC by
:mod:`asyncflow.storage.checks`), conf and XCom values as JSON text. A
transition's row starts with the instance's key, so a batch can be checked for
an instance named twice (:func:`instance_key`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from asyncpg import Record

from asyncflow.records import DagRunRecord, TaskInstanceRecord, XComRecord
from asyncflow.states import DagRunState, TaskState

Row = tuple[Any, ...]

_RUN_STATES = {state.value: state for state in DagRunState}
_TASK_STATES = {state.value: state for state in TaskState}
_RUN_TIMES = (
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "queued_at",
    "start_date",
    "end_date",
)


def _utc(value: datetime) -> datetime:
    """A naive time read back as aware UTC.

    asyncpg sends ``datetime.max`` and ``datetime.min`` as ``infinity`` and
    ``-infinity`` and reads those back as naive datetimes; every other time
    comes back aware, in UTC.
    """
    return value.replace(tzinfo=UTC)


def _aware(values: dict[str, Any], names: tuple[str, ...]) -> None:
    """Make the extreme datetimes among ``values[names]`` aware again, in place."""
    for name in names:
        value = values[name]
        if value is not None and value.tzinfo is None:
            values[name] = _utc(value)


def run_row(run: DagRunRecord, conf: str) -> Row:
    """The ``insert_run`` parameters of a UTC-normalised run, with conf as JSON."""
    return (
        run.dag_id,
        run.run_id,
        run.run_type,
        str(run.state),
        run.logical_date,
        run.data_interval_start,
        run.data_interval_end,
        conf,
        run.queued_at,
        run.start_date,
        run.end_date,
    )


def run_from_record(record: Record) -> DagRunRecord:
    """The run stored in a ``dag_run`` row."""
    values = dict(record.items())
    _aware(values, _RUN_TIMES)
    values["state"] = _RUN_STATES[values["state"]]
    values["conf"] = json.loads(values["conf"])
    return DagRunRecord(**values)


def instance_row(ti: TaskInstanceRecord) -> Row:
    """The ``insert_task_instances`` parameters of one UTC-normalised task instance."""
    return (
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        ti.map_index,
        _state(ti.state),
        ti.try_number,
        ti.start_date,
        ti.end_date,
        ti.next_attempt_at,
        ti.next_poke_at,
        ti.first_poke_at,
        ti.poke_count,
        ti.owner,
        ti.lease_expires_at,
        ti.error,
        ti.interrupted_tries,
    )


def instance_from_record(record: Record) -> TaskInstanceRecord:
    """The task instance stored in a ``task_instance`` row (columns in insert order)."""
    # Positional, as the SQLite codec reads: this runs once per instance read.
    (dag_id, run_id, task_id, map_index, state, try_number, start, end, attempt, poke,
     first, poke_count, owner, lease, error, interrupted_tries) = record  # fmt: skip
    return TaskInstanceRecord(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        state=None if state is None else _TASK_STATES[state],
        try_number=try_number,
        start_date=start if start is None or start.tzinfo else _utc(start),
        end_date=end if end is None or end.tzinfo else _utc(end),
        next_attempt_at=attempt if attempt is None or attempt.tzinfo else _utc(attempt),
        next_poke_at=poke if poke is None or poke.tzinfo else _utc(poke),
        first_poke_at=first if first is None or first.tzinfo else _utc(first),
        poke_count=poke_count,
        owner=owner,
        lease_expires_at=lease if lease is None or lease.tzinfo else _utc(lease),
        error=error,
        interrupted_tries=interrupted_tries,
    )


def instance_key(row: Row) -> Row:
    """The instance a transition's row names: its first four parameters."""
    return row[:4]


def _state(state: TaskState | None) -> str | None:
    return None if state is None else str(state)


def _in_try(ti: TaskInstanceRecord, owner: str) -> Row:
    return (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number, owner)


def start_try_row(ti: TaskInstanceRecord, owner: str) -> Row:
    """The ``start_try`` parameters: the key, the new try and its owner, its columns."""
    return (*_in_try(ti, owner), ti.start_date, ti.first_poke_at, ti.lease_expires_at)


def finish_try_row(ti: TaskInstanceRecord, owner: str) -> Row:
    """The ``finish_try`` parameters: the key, the guard's, then the outcome's columns."""
    return (
        *_in_try(ti, owner),
        _state(ti.state),
        ti.end_date,
        ti.next_attempt_at,
        ti.next_poke_at,
        ti.first_poke_at,
        ti.poke_count,
        ti.error,
    )


def reschedule_row(ti: TaskInstanceRecord, owner: str) -> Row:
    """The ``record_reschedule`` parameters: the key, the guard's, what a poke changes."""
    return (
        *_in_try(ti, owner),
        ti.end_date,
        ti.next_poke_at,
        ti.first_poke_at,
        ti.poke_count,
        ti.error,
    )


def interrupt_row(ti: TaskInstanceRecord, owner: str) -> Row:
    """The ``interrupt_try`` parameters: the key, the guard's, the interrupted try's."""
    return (*_in_try(ti, owner), _state(ti.state), ti.end_date, ti.error, ti.interrupted_tries)


def decide_row(ti: TaskInstanceRecord) -> Row:
    """The ``decide_instance`` parameters."""
    return (
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        ti.map_index,
        _state(ti.state),
        ti.start_date,
        ti.end_date,
        ti.error,
    )


def recover_row(read: TaskInstanceRecord, ti: TaskInstanceRecord) -> Row:
    """The ``recover_try`` parameters: the key, the instance as read, the recovered columns."""
    return (
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        ti.map_index,
        _state(read.state),
        read.owner,
        read.try_number,
        _state(ti.state),
        ti.end_date,
        ti.next_attempt_at,
        ti.next_poke_at,
        ti.error,
    )


def xcom_row(xcom: XComRecord) -> Row:
    """The ``upsert_xcom`` parameters of an XCom value."""
    return (xcom.dag_id, xcom.run_id, xcom.task_id, xcom.map_index, xcom.key, xcom.value)


def xcom_from_record(record: Record) -> XComRecord:
    """The XCom value stored in an ``xcom`` row."""
    return XComRecord(**dict(record.items()))


def columns(rows: list[Row]) -> list[list[Any]]:
    """Rows turned into one list per column: the arrays an ``unnest`` statement takes."""
    return [list(column) for column in zip(*rows, strict=True)]
