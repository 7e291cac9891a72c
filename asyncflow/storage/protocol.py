"""The seam between the engine and persistence: the ``Store`` protocol.

A store speaks the domain (runs, task instances, XCom), never SQL. Every write
method returns once its change is durable; a store may batch the writes of many
concurrent callers into one transaction (group commit), but a caller never sees
its write acknowledged before it is committed.

Writes are guarded transitions. Each change of a run or a task instance says
what it expects to find: a try starts only from a state that waits for one and
after the try before it; a try's outcome lands only while that try is still the
instance's current one, owned by the engine reporting it, on a run that is
still running. A transition whose precondition no longer holds changes nothing
and returns ``False`` (the caller logs ``stale_write_ignored`` and acts on
nothing), so a late write (a sensor's success after its run timed out, a poke
recorded after a shutdown) can never land on a finished run.

Ownership. An engine that drives runs first :meth:`Store.acquire` s the store
with its :class:`~asyncflow.records.EngineIdentity`; task instances
record that identity's ``id`` as their ``owner`` while a try runs. A SQLite or
memory store has one owner at a time (a second is refused with
:class:`~asyncflow.exceptions.StoreInUse` naming the first); a PostgreSQL store
admits many, each renewing a lease. Reading needs no ownership.

The guards, state by state (``run running`` = the run's state is ``running``):

=====================  ============================================================
transition             applies when the stored instance ...
=====================  ============================================================
``start_run``          (the run) is queued, and with ``max_active`` fewer runs of its
                       DAG than that are running
``start_tries``        waits for a try (no state, scheduled, queued, up_for_retry,
                       up_for_reschedule) and has ``try_number`` one below the new
                       try's; run running
``record_reschedule``  is in the same try (same ``try_number``), running or
``finish_try``         up_for_reschedule, owned by ``owner`` or by nobody;
``interrupt_tries``    run running
``decide_instances``   has no state yet (never ran); run running
``recover_tries``      is exactly as the caller read it (state, owner, try_number);
                       run running
``expand_task``        (its placeholder, map_index -1) has no state yet; run running
``reopen_run``         belongs to a finished run (success or failed)
``mark_run_success``   belongs to a run that is not ``success``
``delete_run``         belongs to a run that is not running
=====================  ============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from asyncflow.records import (
    DagRunRecord,
    EngineIdentity,
    Reopening,
    StoreStats,
    TaskInstanceRecord,
    XComRecord,
)
from asyncflow.states import DagRunState


class Store(Protocol):
    """Persistence for DAG runs, task instances and XCom."""

    @property
    def stats(self) -> StoreStats:
        """Counters of transactions and writes since the store was opened."""
        ...

    @property
    def applied_migrations(self) -> tuple[str, ...]:
        """The migrations the last :meth:`open` applied, by file name (none if up to date)."""
        ...

    async def open(self) -> None:
        """Connect and bring the schema up to date (idempotent); reads need no more."""
        ...

    async def close(self) -> None:
        """Flush pending writes, release ownership, and release every connection."""
        ...

    async def acquire(self, owner: EngineIdentity) -> None:
        """Become an owner of the store: the engine that drives its runs.

        Acquiring again with the same identity is a no-op.

        Raises:
            StoreInUse: another engine owns a store that has one owner at a
                time; the message names it (pid, host, since when).
        """
        ...

    async def release(self, owner: EngineIdentity) -> None:
        """Stop owning the store (idempotent); another engine may acquire it."""
        ...

    @property
    def lease_ttl(self) -> float | None:
        """Seconds an owner's lease lasts unless renewed; ``None``: ownership never expires.

        A SQLite file lock lasts as long as its process; a PostgreSQL lease must
        be renewed (:meth:`renew_lease`) well within this time.
        """
        ...

    async def renew_lease(self, owner: EngineIdentity) -> datetime | None:
        """Extend ``owner``'s lease; when it now expires (``None`` where nothing expires).

        Raises:
            LeaseLost: ``owner`` holds no lease any more (released, or taken over
                by another engine after it expired).
        """
        ...

    # --- runs ------------------------------------------------------------------------
    async def create_run(self, run: DagRunRecord, instances: Sequence[TaskInstanceRecord]) -> bool:
        """Insert a run and its task instances in one transaction.

        Returns ``False`` and changes nothing when ``(dag_id, run_id)`` exists.
        """
        ...

    async def start_run(
        self, dag_id: str, run_id: str, at: datetime, *, max_active: int | None = None
    ) -> bool:
        """A queued run starts running at ``at``; ``False`` when it is not queued.

        With ``max_active`` (its DAG's ``max_active_runs``, on a store engines
        share), it starts only while fewer runs of its DAG are running, counted
        in the store; ``False`` too when that many are.
        """
        ...

    async def finish_run(
        self,
        dag_id: str,
        run_id: str,
        state: DagRunState,
        at: datetime,
        *,
        stop_error: str | None = None,
    ) -> bool:
        """A running run ends in ``state`` at ``at``; ``False`` when it is not running.

        With ``stop_error`` (a run stopped early, e.g. past its dagrun_timeout),
        its unfinished instances end in the same transaction: a running try
        fails with ``stop_error`` as its error, every other unfinished instance
        is skipped.
        """
        ...

    async def reopen_run(self, dag_id: str, run_id: str, reopening: Reopening) -> bool:
        """A finished run is queued to run again, its instances changed by ``reopening``.

        In one transaction: the run becomes ``queued`` (no end date); each
        instance in ``reopening.clear`` has no state, end, next time, poke
        history or error, and its XCom is deleted (its try number is kept, and
        its tries so far no longer count against retries); each task in
        ``reopening.expand_again`` is one undecided placeholder (map_index -1)
        again, its mapped instances and their XCom deleted; each mark sets an
        instance's state, ending it at ``reopening.at`` (a mark of ``success``
        also drops its error).

        Returns ``False``, changing nothing, when the run is not finished.
        """
        ...

    async def mark_run_success(self, dag_id: str, run_id: str, at: datetime) -> bool:
        """Mark a run and every instance of it that is not ``success`` as ``success``, by hand.

        The run ends at ``at`` (a finished one keeps its end date); instances
        that end here end at ``at``, their owner cleared, so a try still
        running finds its outcome refused (stale) as it reports.

        Returns ``False``, changing nothing, when the run was ``success`` already
        or does not exist.
        """
        ...

    async def delete_run(self, dag_id: str, run_id: str) -> bool:
        """Delete a run that is not running, with its task instances and XCom.

        Returns ``False``, deleting nothing, when the run is running or does not exist.
        """
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

    # --- task instances ----------------------------------------------------------------
    async def get_task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceRecord]:
        """Every task instance of a run, ordered by task_id then map_index."""
        ...

    async def start_tries(
        self, owner: str, instances: Sequence[TaskInstanceRecord], *, patient: bool = False
    ) -> list[bool]:
        """Start a try of each instance: it is ``running``, owned by ``owner``.

        Each record is the instance as its new try starts (``try_number``,
        ``start_date``, ``first_poke_at``). ``patient=True`` says nobody acts on
        the write at once (a sensor's try starting): a store may hold it back
        briefly to commit it with others. Returns, per instance, whether it
        started (see the guards above).
        """
        ...

    async def record_reschedule(
        self, owner: str, instance: TaskInstanceRecord, xcoms: Sequence[XComRecord] = ()
    ) -> bool:
        """Record a reschedule-mode sensor's poke that did not finish, with its XCom.

        The instance becomes ``up_for_reschedule`` and only what a poke changes
        is written: ``end_date``, ``next_poke_at``, ``first_poke_at``,
        ``poke_count`` and ``error``; the owner is cleared. Nobody needs this
        write at once, so a store may hold it back briefly to commit it with
        others. Returns whether it applied; the XCom is written only if it did.

        Raises:
            ValueError: the instance is not ``up_for_reschedule`` with a
                ``next_poke_at``, or an XCom value is another instance's.
        """
        ...

    async def finish_try(
        self,
        owner: str,
        instance: TaskInstanceRecord,
        xcoms: Sequence[XComRecord] = (),
        *,
        patient: bool = False,
    ) -> bool:
        """Record a try's outcome and the XCom it produced in one transaction.

        Written: ``state``, ``end_date``, ``next_attempt_at``, ``next_poke_at``,
        ``first_poke_at``, ``poke_count`` and ``error``; the owner is cleared.
        ``patient=True``: a store may hold the write back briefly to commit it
        with others. Returns whether it applied; the XCom is written only if it did.

        Raises:
            ValueError: an XCom value is another instance's.
        """
        ...

    async def finish_tries(
        self,
        owner: str,
        tries: Sequence[tuple[TaskInstanceRecord, Sequence[XComRecord]]],
        *,
        patient: bool = False,
    ) -> list[bool]:
        """:meth:`finish_try` for many tries at once: one call and one wait for all.

        Each applies (with its XCom) or not on its own guard, exactly as if
        finished alone; they commit together. Returns, per try, whether it applied.
        """
        ...

    async def interrupt_tries(
        self, owner: str, instances: Sequence[TaskInstanceRecord]
    ) -> list[bool]:
        """Record tries a graceful shutdown stopped, to run again after a restart.

        Written: ``state`` (none, or ``up_for_reschedule`` for a sensor between
        pokes), ``end_date``, ``error`` and ``interrupted_tries``; the try keeps
        its number, so the next execution is the next try. Returns, per
        instance, whether it applied.
        """
        ...

    async def decide_instances(self, instances: Sequence[TaskInstanceRecord]) -> list[bool]:
        """End instances that never ran, as their upstream decided.

        Written: ``state`` (skipped, upstream_failed, or failed before a try),
        ``start_date``, ``end_date`` and ``error``. Returns, per instance,
        whether it applied.
        """
        ...

    async def recover_tries(
        self, changes: Sequence[tuple[TaskInstanceRecord, TaskInstanceRecord]]
    ) -> list[bool]:
        """End tries a stopped engine left in flight: ``(as read, as recovered)`` pairs.

        Written: ``state``, ``end_date``, ``next_attempt_at``, ``next_poke_at``
        and ``error``; the owner is cleared. Each applies only while the instance
        is still as read.
        """
        ...

    async def expand_task(
        self, dag_id: str, run_id: str, task_id: str, instances: Sequence[TaskInstanceRecord]
    ) -> bool:
        """Replace a mapped task's placeholder (map_index -1) by its mapped instances.

        Returns ``False``, changing nothing, when the placeholder is gone or
        decided, or the run is not running.

        Raises:
            ValueError: an instance is not a mapped instance (map_index >= 0) of the task.
        """
        ...

    # --- XCom --------------------------------------------------------------------------
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

    # --- DAGs --------------------------------------------------------------------------
    async def set_dag_paused(self, dag_id: str, paused: bool) -> None:
        """Remember whether a DAG is paused (its schedule creates no runs while it is)."""
        ...

    async def get_paused_dag_ids(self) -> set[str]:
        """The ids of every paused DAG."""
        ...
