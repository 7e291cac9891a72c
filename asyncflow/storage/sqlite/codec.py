"""Rows to records and back, in the column order of ``queries.sql``.

Datetimes become ISO-8601 UTC text with fixed microsecond precision
(``2024-05-01T12:00:00.000000+00:00``): every value has the same width, so
comparing the text compares the times. Records reach the encoders already
normalised to UTC by :mod:`asyncflow.storage.checks`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from asyncflow.records import DagRunRecord, TaskInstanceRecord, XComRecord
from asyncflow.states import DagRunState, TaskState

Row = tuple[Any, ...]

_RUN_STATES = {state.value: state for state in DagRunState}
_TASK_STATES = {state.value: state for state in TaskState}


def text(value: datetime | None) -> str | None:
    """A datetime as the store writes it: ISO-8601 with fixed microseconds (or None)."""
    return None if value is None else value.isoformat(timespec="microseconds")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def run_row(run: DagRunRecord, conf: str) -> Row:
    """The ``insert_run`` parameters of a UTC-normalised run, with conf as JSON."""
    return (
        run.dag_id,
        run.run_id,
        run.run_type,
        str(run.state),
        text(run.logical_date),
        text(run.data_interval_start),
        text(run.data_interval_end),
        conf,
        text(run.queued_at),
        text(run.start_date),
        text(run.end_date),
    )


def run_from_row(row: Row) -> DagRunRecord:
    """The run stored in a ``dag_run`` row."""
    (dag_id, run_id, run_type, state, logical_date, interval_start, interval_end, conf,
     queued_at, start_date, end_date) = row  # fmt: skip
    return DagRunRecord(
        dag_id=dag_id,
        run_id=run_id,
        run_type=run_type,
        state=_RUN_STATES[state],
        logical_date=datetime.fromisoformat(logical_date),
        data_interval_start=_time(interval_start),
        data_interval_end=_time(interval_end),
        conf=json.loads(conf),
        queued_at=datetime.fromisoformat(queued_at),
        start_date=_time(start_date),
        end_date=_time(end_date),
    )


def instance_row(ti: TaskInstanceRecord) -> Row:
    """The ``insert_task_instance`` parameters of a UTC-normalised task instance."""
    # Inlined rather than calling _text: this runs once per instance written.
    start, end, attempt, poke = ti.start_date, ti.end_date, ti.next_attempt_at, ti.next_poke_at
    first, lease, state = ti.first_poke_at, ti.lease_expires_at, ti.state
    return (
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        ti.map_index,
        None if state is None else str(state),
        ti.try_number,
        None if start is None else start.isoformat(timespec="microseconds"),
        None if end is None else end.isoformat(timespec="microseconds"),
        None if attempt is None else attempt.isoformat(timespec="microseconds"),
        None if poke is None else poke.isoformat(timespec="microseconds"),
        None if first is None else first.isoformat(timespec="microseconds"),
        ti.poke_count,
        ti.owner,
        None if lease is None else lease.isoformat(timespec="microseconds"),
        ti.error,
        ti.interrupted_tries,
    )


def _state(state: TaskState | None) -> str | None:
    return None if state is None else str(state)


def start_try_row(ti: TaskInstanceRecord, owner: str) -> Row:
    """The ``start_try`` parameters: the new try's columns, the key, the previous try number."""
    return (
        ti.try_number,
        text(ti.start_date),
        text(ti.first_poke_at),
        owner,
        text(ti.lease_expires_at),
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        ti.map_index,
        ti.try_number - 1,
    )


def finish_try_row(ti: TaskInstanceRecord, owner: str) -> Row:
    """The ``finish_try`` parameters: the outcome's columns, then the guard's."""
    return (
        _state(ti.state),
        text(ti.end_date),
        text(ti.next_attempt_at),
        text(ti.next_poke_at),
        text(ti.first_poke_at),
        ti.poke_count,
        ti.error,
        *_in_try(ti, owner),
    )


def reschedule_row(ti: TaskInstanceRecord, owner: str) -> Row:
    """The ``record_reschedule`` parameters: what a poke changes, then the guard's."""
    return (
        text(ti.end_date),
        text(ti.next_poke_at),
        text(ti.first_poke_at),
        ti.poke_count,
        ti.error,
        *_in_try(ti, owner),
    )


def interrupt_row(ti: TaskInstanceRecord, owner: str) -> Row:
    """The ``interrupt_try`` parameters: the interrupted try's columns, then the guard's."""
    return (
        _state(ti.state),
        text(ti.end_date),
        ti.error,
        ti.interrupted_tries,
        *_in_try(ti, owner),
    )


def _in_try(ti: TaskInstanceRecord, owner: str) -> Row:
    return (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number, owner)


def decide_row(ti: TaskInstanceRecord) -> Row:
    """The ``decide_instance`` parameters."""
    return (
        _state(ti.state),
        text(ti.start_date),
        text(ti.end_date),
        ti.error,
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        ti.map_index,
    )


def recover_row(read: TaskInstanceRecord, ti: TaskInstanceRecord) -> Row:
    """The ``recover_try`` parameters: the recovered columns, then the instance as read."""
    return (
        _state(ti.state),
        text(ti.end_date),
        text(ti.next_attempt_at),
        text(ti.next_poke_at),
        ti.error,
        ti.dag_id,
        ti.run_id,
        ti.task_id,
        ti.map_index,
        _state(read.state),
        read.owner,
        read.try_number,
    )


def instance_from_row(row: Row) -> TaskInstanceRecord:
    """The task instance stored in a ``task_instance`` row."""
    (dag_id, run_id, task_id, map_index, state, try_number, start, end, attempt, poke,
     first, poke_count, owner, lease, error, interrupted_tries) = row  # fmt: skip
    parse = datetime.fromisoformat  # inlined rather than _time: this runs once per row read
    return TaskInstanceRecord(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        state=None if state is None else _TASK_STATES[state],
        try_number=try_number,
        start_date=None if start is None else parse(start),
        end_date=None if end is None else parse(end),
        next_attempt_at=None if attempt is None else parse(attempt),
        next_poke_at=None if poke is None else parse(poke),
        first_poke_at=None if first is None else parse(first),
        poke_count=poke_count,
        owner=owner,
        lease_expires_at=None if lease is None else parse(lease),
        error=error,
        interrupted_tries=interrupted_tries,
    )


def xcom_row(xcom: XComRecord) -> Row:
    """The ``upsert_xcom`` parameters of an XCom value."""
    return (xcom.dag_id, xcom.run_id, xcom.task_id, xcom.map_index, xcom.key, xcom.value)


def xcom_from_row(row: Row) -> XComRecord:
    """The XCom value stored in an ``xcom`` row."""
    dag_id, run_id, task_id, map_index, key, value = row
    return XComRecord(
        dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key, value=value
    )
