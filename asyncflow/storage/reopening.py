"""What clearing and marking by hand do to one stored task instance.

The in-memory store applies these; the SQL stores say the same in their
``clear_instance``, ``mark_instance`` and ``mark_run_instances_success``
statements, and the conformance suite holds them to it.
"""

from __future__ import annotations

from datetime import datetime

from asyncflow.records import TaskInstanceRecord
from asyncflow.states import TaskState


def cleared(instance: TaskInstanceRecord) -> TaskInstanceRecord:
    """The instance waiting for a new try: its try number kept, its retry budget fresh."""
    return instance.evolve(
        state=None,
        end_date=None,
        next_attempt_at=None,
        next_poke_at=None,
        first_poke_at=None,
        poke_count=0,
        owner=None,
        lease_expires_at=None,
        error=None,
        interrupted_tries=instance.try_number,
    )


def marked(instance: TaskInstanceRecord, state: TaskState, at: datetime) -> TaskInstanceRecord:
    """The instance set to a finished ``state`` by hand, ending at ``at``.

    One that never started starts at ``at`` too; a mark of ``success`` drops
    the error of a failed try.
    """
    return instance.evolve(
        state=state,
        start_date=instance.start_date or at,
        end_date=at,
        next_attempt_at=None,
        next_poke_at=None,
        owner=None,
        lease_expires_at=None,
        error=None if state is TaskState.SUCCESS else instance.error,
    )


def placeholder(instance: TaskInstanceRecord) -> TaskInstanceRecord:
    """The undecided placeholder (map_index -1) of a mapped task's instance."""
    return TaskInstanceRecord(
        dag_id=instance.dag_id, run_id=instance.run_id, task_id=instance.task_id
    )
