"""Resuming runs after a restart: what a dead process left behind, and what to do now.

An instance stored as running (or queued) belonged to a process that stopped
without recording its outcome. Its try is recorded as interrupted: it goes up
for retry now when it has tries left, and fails otherwise. A reschedule-mode
sensor caught in a poke only lost that poke: it is up for reschedule now, in
the same try, its first poke and poke count kept. Everything else is
resumed as it was: a retry keeps its time, a reschedule-mode sensor its next
poke, first poke and poke count.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from asyncflow.dag import DAG
from asyncflow.engine.try_phase import TryKind, try_kind
from asyncflow.operator import Operator
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
            recovered = _interrupted(ti, dag.get_task(ti.task_id), now)
            changes.append((ti, recovered))
            ti = recovered
        result.append(ti)
    return result, changes


def _interrupted(ti: TaskInstanceRecord, task: Operator, now: datetime) -> TaskInstanceRecord:
    error = (
        f"interrupted: the engine running try {ti.try_number} stopped without recording "
        f"its outcome (owner {ti.owner or 'unknown'})"
    )
    if try_kind(task) is TryKind.RESCHEDULE_SENSOR and ti.try_number > 0:
        return replace(
            ti,
            state=TaskState.UP_FOR_RESCHEDULE,
            next_poke_at=now,
            end_date=now,
            error=error,
            owner=None,
        )
    if ti.try_number - ti.interrupted_tries <= task.retries:
        return replace(
            ti,
            state=TaskState.UP_FOR_RETRY,
            next_attempt_at=now,
            end_date=now,
            error=error,
            owner=None,
        )
    return replace(ti, state=TaskState.FAILED, end_date=now, error=error, owner=None)
