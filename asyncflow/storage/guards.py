"""The preconditions of the store's transitions, as plain predicates.

The in-memory store applies these; the SQLite store says the same in the
``WHERE`` clauses of ``queries.sql``; the conformance suite holds both to them.
Each takes the stored instance (or ``None`` when there is none) and what the
caller expects.
"""

from __future__ import annotations

from asyncflow.records import TaskInstanceRecord
from asyncflow.states import TaskState

WAITING_FOR_A_TRY = frozenset(
    {
        None,
        TaskState.SCHEDULED,
        TaskState.QUEUED,
        TaskState.UP_FOR_RETRY,
        TaskState.UP_FOR_RESCHEDULE,
    }
)
"""States from which a try may start."""

IN_A_TRY = frozenset({TaskState.RUNNING, TaskState.UP_FOR_RESCHEDULE})
"""States of an instance whose try is still going (a reschedule-mode sensor between pokes too)."""


def may_start(stored: TaskInstanceRecord | None, new: TaskInstanceRecord) -> bool:
    """A try may start: the instance waits for one, and ``new`` is the next try."""
    return (
        stored is not None
        and stored.state in WAITING_FOR_A_TRY
        and stored.try_number == new.try_number - 1
    )


def in_try(stored: TaskInstanceRecord | None, new: TaskInstanceRecord, owner: str) -> bool:
    """``new`` reports on the instance's current try, which ``owner`` (or nobody) holds."""
    return (
        stored is not None
        and stored.state in IN_A_TRY
        and stored.try_number == new.try_number
        and stored.owner in (None, owner)
    )


def undecided(stored: TaskInstanceRecord | None) -> bool:
    """The instance has no state yet: nothing decided it and it never ran."""
    return stored is not None and stored.state is None


def unchanged(stored: TaskInstanceRecord | None, read: TaskInstanceRecord) -> bool:
    """The instance is still as the caller read it (state, owner and try number)."""
    return (
        stored is not None
        and stored.state is read.state
        and stored.owner == read.owner
        and stored.try_number == read.try_number
    )
