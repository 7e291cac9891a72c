"""The seam between the engine and persistence: the ``Store`` protocol.

A store speaks the domain (runs, task instances, XCom), never SQL. Every write
method returns once its change is durable; a store may batch the writes of many
concurrent callers into one transaction (group commit), but a caller never sees
its write acknowledged before it is committed.

The methods are shaped for a multi-process backend too: a task instance is
claimed by an ``owner`` with a lease (``TaskInstanceRecord.owner`` and
``lease_expires_at``), so a PostgreSQL store can implement ``set_task_instances``
under ``SELECT ... FOR UPDATE SKIP LOCKED`` without the runtime changing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from asyncflow.records import DagRunRecord, StoreStats, TaskInstanceRecord, XComRecord
from asyncflow.states import DagRunState


class Store(Protocol):
    """Persistence for DAG runs, task instances and XCom."""

    @property
    def stats(self) -> StoreStats:
        """Counters of transactions and writes since the store was opened."""
        ...

    async def open(self) -> None:
        """Connect and bring the schema up to date (idempotent)."""
        ...

    async def close(self) -> None:
        """Flush pending writes and release every connection."""
        ...

    async def create_run(self, run: DagRunRecord, instances: Sequence[TaskInstanceRecord]) -> bool:
        """Insert a run and its task instances in one transaction.

        Returns ``False`` and changes nothing when ``(dag_id, run_id)`` exists.
        """
        ...

    async def update_run(self, run: DagRunRecord) -> None:
        """Replace the state, start_date and end_date of an existing run."""
        ...

    async def get_run(self, dag_id: str, run_id: str) -> DagRunRecord | None:
        """The run with this identity, or ``None``."""
        ...

    async def find_runs(self, run_id: str) -> list[DagRunRecord]:
        """Every run with this run_id, across DAGs (usually zero or one)."""
        ...

    async def list_runs(
        self, dag_id: str | None = None, states: Sequence[DagRunState] | None = None
    ) -> list[DagRunRecord]:
        """Runs, newest logical_date first, optionally filtered by DAG and state."""
        ...

    async def get_task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceRecord]:
        """Every task instance of a run, ordered by task_id then map_index."""
        ...

    async def set_task_instances(
        self, instances: Sequence[TaskInstanceRecord], *, patient: bool = False
    ) -> None:
        """Upsert task instances by their key, all in one transaction.

        ``patient=True`` says nobody acts on the write at once (a sensor's try
        starting or ending): a store may hold it back briefly to commit it with
        others, as it does a reschedule. It still returns only once committed.
        """
        ...

    async def expand_task(
        self, dag_id: str, run_id: str, task_id: str, instances: Sequence[TaskInstanceRecord]
    ) -> None:
        """Replace a mapped task's placeholder (map_index -1) by its mapped instances."""
        ...

    async def finish_task_instance(
        self,
        instance: TaskInstanceRecord,
        xcoms: Sequence[XComRecord] = (),
        *,
        patient: bool = False,
    ) -> None:
        """Record a try's outcome and the XCom it produced in one transaction.

        ``patient=True`` says nobody acts on the write at once (a sensor's try
        starting or ending): a store may hold it back briefly to commit it with
        others, as a reschedule. It still returns only once committed.
        """
        ...

    async def reschedule_task_instance(
        self, instance: TaskInstanceRecord, xcoms: Sequence[XComRecord] = ()
    ) -> None:
        """Record a reschedule-mode sensor's poke that did not finish, with its XCom.

        The instance becomes ``up_for_reschedule`` and only what a poke changes
        is written: ``end_date``, ``next_poke_at``, ``first_poke_at``,
        ``poke_count``, ``owner``, ``lease_expires_at`` and ``error``. The try's
        own fields (``try_number``, ``start_date``, ``next_attempt_at``) keep
        their stored values. Nobody needs this write at once, so a store may
        hold it back briefly to commit it with others; it still returns only
        once it is committed.

        Raises:
            ValueError: the instance is not ``up_for_reschedule`` with a
                ``next_poke_at``, or an XCom value is another instance's.
            StoreError: no such task instance is stored; nothing is written.
        """
        ...

    async def push_xcom(self, xcoms: Sequence[XComRecord]) -> None:
        """Upsert XCom values by ``(dag_id, run_id, task_id, map_index, key)``."""
        ...

    async def get_xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int
    ) -> XComRecord | None:
        """One XCom value, or ``None`` when it was never pushed."""
        ...

    async def get_xcoms(self, dag_id: str, run_id: str, task_id: str, key: str) -> list[XComRecord]:
        """Every XCom value of a task under ``key``, ordered by map_index."""
        ...

    async def get_run_xcoms(self, dag_id: str, run_id: str) -> list[XComRecord]:
        """Every XCom value of a run, ordered by task_id, map_index, then key."""
        ...

    async def delete_run_xcoms(self, dag_id: str, run_id: str) -> int:
        """Delete every XCom value of a run; returns how many there were."""
        ...

    async def set_dag_paused(self, dag_id: str, paused: bool) -> None:
        """Remember whether a DAG is paused (its schedule creates no runs while it is)."""
        ...

    async def get_paused_dag_ids(self) -> set[str]:
        """The ids of every paused DAG."""
        ...
