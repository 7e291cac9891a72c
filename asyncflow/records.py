"""The records a store keeps: DAG runs, task instances and XCom values.

Records are frozen values; a change is a new record (``dataclasses.replace``).
Datetimes are timezone-aware UTC. XCom values travel as JSON text: encoding and
decoding happen in :mod:`asyncflow.xcom`, never in a store.

They belong to the model, not to :mod:`asyncflow.storage`: results, the runtime
and every store speak them, and the model must not depend on storage.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from asyncflow.states import DagRunState, TaskState


@dataclass(frozen=True, slots=True, kw_only=True)
class DagRunRecord:
    """One DAG run, identified by ``(dag_id, run_id)``."""

    dag_id: str
    run_id: str
    run_type: str  # "manual", "scheduled" or "backfill"
    state: DagRunState
    logical_date: datetime
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    queued_at: datetime
    start_date: datetime | None = None
    end_date: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskInstanceRecord:
    """One task instance of a run; ``map_index`` is -1 unless the task is mapped."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    state: TaskState | None = None
    try_number: int = 0  # 0 before the first try, 1 during and after it
    start_date: datetime | None = None
    end_date: datetime | None = None
    next_attempt_at: datetime | None = None  # when an up_for_retry instance runs again
    next_poke_at: datetime | None = None  # when an up_for_reschedule sensor pokes again
    first_poke_at: datetime | None = None  # a sensor's timeout counts from here
    poke_count: int = 0
    owner: str | None = None  # the engine (its EngineIdentity.id) that runs it now
    lease_expires_at: datetime | None = None  # the owner's claim ends here unless renewed
    error: str | None = None  # the one-line error of the last failed try
    interrupted_tries: int = 0  # tries a graceful shutdown cut short: not counted as retries

    @property
    def key(self) -> tuple[str, str, str, int]:
        """``(dag_id, run_id, task_id, map_index)``: the instance's identity."""
        return (self.dag_id, self.run_id, self.task_id, self.map_index)

    def evolve(self, **changes: Any) -> TaskInstanceRecord:
        """This record with ``changes``: ``dataclasses.replace``, at half its cost.

        A completion storm makes several of these per instance, a hundred
        thousand instances at once: the copy goes slot by slot.
        """
        new = _NEW_INSTANCE(TaskInstanceRecord)
        for put, value in zip(_INSTANCE_SLOTS, _INSTANCE_VALUES(self), strict=True):
            put(new, value)
        for name, value in changes.items():
            _INSTANCE_SLOT[name](new, value)
        return new


_INSTANCE_FIELDS = tuple(f.name for f in fields(TaskInstanceRecord))
_INSTANCE_VALUES = attrgetter(*_INSTANCE_FIELDS)
_INSTANCE_SLOT = {name: getattr(TaskInstanceRecord, name).__set__ for name in _INSTANCE_FIELDS}
_INSTANCE_SLOTS = tuple(_INSTANCE_SLOT.values())
_NEW_INSTANCE = object.__new__


@dataclass(frozen=True, slots=True, kw_only=True)
class Reopening:
    """How a finished run's instances change as it is queued to run again.

    What a clear or a hand-set state ("mark success") asks of the store, in one
    transaction: the run becomes ``queued`` (an engine starts it and decides
    what is left), ``clear`` instances wait for a new try with a fresh retry
    budget, ``expand_again`` mapped tasks are one placeholder again (their
    mapped instances and XCom deleted) so they expand from their input anew,
    and ``marks`` set instances to a finished state ended at ``at``.
    """

    at: datetime
    clear: tuple[tuple[str, int], ...] = ()  # (task_id, map_index)
    expand_again: tuple[str, ...] = ()  # task ids of mapped tasks
    marks: tuple[tuple[str, int, TaskState], ...] = ()  # (task_id, map_index, state)

    @property
    def empty(self) -> bool:
        """Whether it changes no instance."""
        return not (self.clear or self.expand_again or self.marks)


@dataclass(frozen=True, slots=True, kw_only=True)
class XComRecord:
    """One XCom value, already encoded as JSON text."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    key: str = "return_value"
    value: str  # JSON text produced by asyncflow.xcom.encode


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineIdentity:
    """The engine process that writes to a store: who it is and since when.

    ``id`` is what task instances record as their ``owner``; ``host``, ``pid``
    and ``started_at`` name the holder when another engine is refused the store.
    """

    id: str  # "<host>:<pid>:<8 hex digits>", unique per engine
    host: str
    pid: int
    started_at: datetime

    @classmethod
    def of_this_process(cls) -> EngineIdentity:
        """A fresh identity for an engine of this process: host, pid, now and a nonce."""
        host, pid = socket.gethostname(), os.getpid()
        return cls(
            id=f"{host}:{pid}:{uuid.uuid4().hex[:8]}",
            host=host,
            pid=pid,
            started_at=datetime.now(UTC),
        )

    def describe(self) -> str:
        """One phrase naming the engine for people: pid, host and since when."""
        since = self.started_at.isoformat(timespec="seconds")
        return f"pid {self.pid} on {self.host}, since {since}"


@dataclass(slots=True, kw_only=True)
class StoreStats:
    """Counters a store keeps about its own work, read by benchmarks and tests."""

    transactions: int = 0  # committed write transactions
    writes: int = 0  # write operations requested by callers (many per transaction)
    # told of each group-commit batch (seconds, writes), by the engine's metrics
    on_commit: Callable[[float, int], None] | None = None
