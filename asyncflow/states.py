"""The states a task instance and a DAG run move through.

Both enums are ``StrEnum``s holding Airflow's own strings, so a plain string such
as ``"success"`` compares equal to ``TaskState.SUCCESS``.
"""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    """The state of one task instance (one try of it at a time)."""

    SCHEDULED = "scheduled"  # its trigger rule is met; waiting for the dispatcher
    QUEUED = "queued"  # handed to the dispatcher; waiting for a slot
    RUNNING = "running"  # a try is executing (a poke-mode sensor counts as running)
    SUCCESS = "success"  # finished without error
    FAILED = "failed"  # finished with an error and no retries left
    SKIPPED = "skipped"  # not run: SkipTask, a branch not taken, or a trigger rule
    UPSTREAM_FAILED = "upstream_failed"  # not run because an upstream task failed
    UP_FOR_RETRY = "up_for_retry"  # a try failed; the next one waits for its time
    UP_FOR_RESCHEDULE = "up_for_reschedule"  # a reschedule-mode sensor between pokes


class DagRunState(StrEnum):
    """The state of one DAG run."""

    QUEUED = "queued"  # created; not yet started
    RUNNING = "running"  # at least one task instance may still make progress
    SUCCESS = "success"  # finished; no leaf task failed
    FAILED = "failed"  # finished; a leaf task failed or was upstream_failed


FINISHED_TASK_STATES: frozenset[TaskState] = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED, TaskState.UPSTREAM_FAILED}
)
"""States a task instance never leaves on its own."""

FAILED_TASK_STATES: frozenset[TaskState] = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})
"""Leaf states that fail a DAG run."""

FINISHED_RUN_STATES: frozenset[DagRunState] = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})
"""The states a DAG run ends in."""
