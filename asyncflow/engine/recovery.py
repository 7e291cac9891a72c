"""Resuming runs after a restart: what a dead process left behind, and what to do now.

An instance stored as running (or queued) belonged to a process that stopped
without recording its outcome. Its try is recorded as interrupted: it goes up
for retry now when it has tries left, and fails otherwise. Everything else is
resumed as it was: a retry keeps its time, a reschedule-mode sensor its next
poke, first poke and poke count.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from asyncflow.dag import DAG
from asyncflow.records import TaskInstanceRecord
from asyncflow.states import TaskState

_IN_FLIGHT = frozenset({TaskState.RUNNING, TaskState.QUEUED, TaskState.SCHEDULED})


def interrupt_orphans(
    dag: DAG, instances: list[TaskInstanceRecord], *, now: datetime
) -> tuple[list[TaskInstanceRecord], list[tuple[TaskInstanceRecord, TaskInstanceRecord]]]:
    """Record the tries that a stopped process left running as interrupted.

    Returns every instance (with the orphans changed) and the changes as
    ``(as read, as recovered)`` pairs, to be written (``Store.recover_tries``)
    before anything acts on them.
    """
    changes: list[tuple[TaskInstanceRecord, TaskInstanceRecord]] = []
    result: list[TaskInstanceRecord] = []
    for ti in instances:
        if ti.state in _IN_FLIGHT and dag.has_task(ti.task_id):
            recovered = _interrupted(ti, dag.get_task(ti.task_id).retries, now)
            changes.append((ti, recovered))
            ti = recovered
        result.append(ti)
    return result, changes


def _interrupted(ti: TaskInstanceRecord, retries: int, now: datetime) -> TaskInstanceRecord:
    error = (
        f"interrupted: the engine running try {ti.try_number} stopped without recording "
        f"its outcome (owner {ti.owner or 'unknown'})"
    )
    if ti.try_number - ti.interrupted_tries <= retries:
        return replace(
            ti,
            state=TaskState.UP_FOR_RETRY,
            next_attempt_at=now,
            end_date=now,
            error=error,
            owner=None,
        )
    return replace(ti, state=TaskState.FAILED, end_date=now, error=error, owner=None)
