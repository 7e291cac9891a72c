"""How the executor changes a task instance's record when a try starts or is stopped.

Pure functions of the record (and the time): the executor stores what they
return, through the store's guarded transitions; :func:`log_stale` reports a
transition the store no longer expected (a write that arrived late).
"""

from __future__ import annotations

from datetime import datetime

import structlog

from asyncflow.engine.run_state import NodeState, RunState
from asyncflow.engine.try_phase import try_kind
from asyncflow.records import TaskInstanceRecord
from asyncflow.states import TaskState

log = structlog.get_logger("asyncflow.engine")


def running_record(
    previous: TaskInstanceRecord, *, sensor: bool, owner: str, now: datetime
) -> tuple[TaskInstanceRecord, bool]:
    """The instance as running, and whether that starts a new try (to be stored first).

    A reschedule-mode sensor's next poke continues its try: no new try, and
    nothing to store until the poke ends.
    """
    if previous.state is TaskState.QUEUED and previous.next_poke_at is not None:
        return previous.evolve(state=TaskState.RUNNING, owner=owner), False
    first_poke_at = previous.first_poke_at
    if sensor and first_poke_at is None:
        first_poke_at = now  # the timeout counts from here, across retries and restarts
    record = previous.evolve(
        state=TaskState.RUNNING,
        try_number=previous.try_number + 1,
        start_date=now,
        end_date=None,
        next_attempt_at=None,
        first_poke_at=first_poke_at,
        owner=owner,
    )
    return record, True


def timeout_error(run: RunState) -> str:
    """The error of a try stopped because its run exceeded dagrun_timeout."""
    return (
        f"run {run.record.run_id!r} exceeded its dagrun_timeout of "
        f"{run.dag.dagrun_timeout}; this try was stopped"
    )


def timed_out_record(
    run: RunState, record: TaskInstanceRecord, now: datetime
) -> TaskInstanceRecord:
    """A try stopped because its run was failed early (dagrun_timeout, marked failed).

    It failed, with the run's ``stop_error``, as the store recorded it with the run.
    """
    return record.evolve(
        state=TaskState.FAILED,
        end_date=now,
        owner=None,
        error=run.stop_error or f"run {run.record.run_id!r} was failed; this try was stopped",
    )


def interrupted_record(
    node: NodeState, record: TaskInstanceRecord, now: datetime
) -> TaskInstanceRecord | None:
    """A try stopped by a shutdown, as it is stored to run again after a restart.

    The try keeps its number (the next execution is the next try, with its own
    log) and counts in ``interrupted_tries``, not against retries. A
    reschedule-mode sensor stopped during a poke is only back between pokes: its
    try goes on.
    """
    if record.state is not TaskState.RUNNING:
        return None
    if record.next_poke_at is not None and try_kind(node.task).is_sensor:
        return record.evolve(state=TaskState.UP_FOR_RESCHEDULE, owner=None)
    return record.evolve(
        state=None,
        end_date=now,
        owner=None,
        interrupted_tries=record.interrupted_tries + 1,
        error=f"interrupted: the engine shut down during try {record.try_number}",
    )


def log_stale(write: str, record: TaskInstanceRecord, reason: str) -> None:
    """Say that a transition was dropped because the store no longer expected it."""
    log.info(
        "stale_write_ignored",
        write=write,
        dag_id=record.dag_id,
        run_id=record.run_id,
        task_id=record.task_id,
        map_index=record.map_index,
        try_number=record.try_number,
        reason=reason,
    )
