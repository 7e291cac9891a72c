"""``MemoryStore``: the whole store in dicts, for unit tests and ``dag.test()``.

It passes the same conformance suite as the SQLite store (``tests/storage``), so
a test that runs against it tells the truth about the real backends:

- records are frozen; the one mutable field, a run's ``conf``, is kept as JSON
  text and decoded afresh on every read, so no caller can change stored state;
- datetimes are normalised to UTC and naive ones rejected, and a write to a run
  that does not exist fails with :class:`~asyncflow.exceptions.StoreError`, as
  SQLite's foreign keys make it fail there;
- a write either applies completely or changes nothing; each write call counts
  one transaction in :attr:`MemoryStore.stats`;
- every call is a checkpoint (it yields to the event loop once), as a real
  store's I/O is.

Lookups are dict hits keyed by identity; only the listing reads sort.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from operator import attrgetter
from typing import Any

import anyio.lowlevel

from asyncflow.exceptions import StoreError, StoreInUse
from asyncflow.records import (
    DagRunRecord,
    EngineIdentity,
    Reopening,
    StoreStats,
    TaskInstanceRecord,
    XComRecord,
)
from asyncflow.states import (
    FINISHED_RUN_STATES,
    FINISHED_TASK_STATES,
    DagRunState,
    TaskState,
)
from asyncflow.storage import checks, guards
from asyncflow.storage import reopening as reopening_

_RunKey = tuple[str, str]  # (dag_id, run_id)
_XComSlot = tuple[str, str]  # (task_id, key) within a run
_by_task_and_index = attrgetter("task_id", "map_index")
_by_task_index_and_key = attrgetter("task_id", "map_index", "key")


class MemoryStore:
    """A :class:`~asyncflow.storage.protocol.Store` kept in memory by one process.

    Data lives as long as the object: closing and reopening keeps it, like a
    database file. Not shared between processes.

    Example:
        >>> store = MemoryStore()
        >>> # await store.open(); await store.create_run(run, instances); ...
    """

    def __init__(self) -> None:
        self._stats = StoreStats()
        self._is_open = False
        self._runs: dict[_RunKey, tuple[DagRunRecord, str]] = {}  # record, conf as JSON
        self._dag_ids_by_run_id: dict[str, set[str]] = {}
        self._instances: dict[_RunKey, dict[tuple[str, int], TaskInstanceRecord]] = {}
        self._xcoms: dict[_RunKey, dict[_XComSlot, dict[int, XComRecord]]] = {}
        self._paused: set[str] = set()
        self._owner: EngineIdentity | None = None

    def __repr__(self) -> str:
        return f"MemoryStore(runs={len(self._runs)}, open={self._is_open})"

    @property
    def stats(self) -> StoreStats:
        """Counters of write calls; each one is a transaction of its own."""
        return self._stats

    @property
    def applied_migrations(self) -> tuple[str, ...]:
        """None: a memory store has no schema to migrate."""
        return ()

    async def open(self) -> None:
        """Make the store usable (idempotent); the data is kept across close/open."""
        self._is_open = True

    async def close(self) -> None:
        """Refuse further calls until the next :meth:`open`; the data is kept."""
        self._is_open = False
        self._owner = None

    async def acquire(self, owner: EngineIdentity) -> None:
        """Become the store's one owner; another engine holding it is refused."""
        await self._enter()
        if self._owner is not None and self._owner.id != owner.id:
            raise StoreInUse(
                f"the memory store is in use by the engine {self._owner.id} "
                f"({self._owner.describe()}); one engine owns a store at a time"
            )
        self._owner = owner

    async def release(self, owner: EngineIdentity) -> None:
        """Stop owning the store (when ``owner`` holds it)."""
        if self._owner is not None and self._owner.id == owner.id:
            self._owner = None

    @property
    def lease_ttl(self) -> float | None:
        """``None``: ownership of this store lasts as long as its owner's process."""
        return None

    async def renew_lease(self, owner: EngineIdentity) -> datetime | None:
        """Nothing to renew: ownership of this store never expires."""
        return None

    async def create_run(self, run: DagRunRecord, instances: Sequence[TaskInstanceRecord]) -> bool:
        """Insert a run and its task instances; ``False`` when the run exists."""
        await self._enter()
        run = checks.utc_run(run)
        conf = checks.conf_json(run)
        checks.check_run_instances(run, instances)
        ready = checks.utc_instances(instances)
        self._begin()
        run_key = (run.dag_id, run.run_id)
        if run_key in self._runs:
            self._commit()
            return False
        by_key = {(instance.task_id, instance.map_index): instance for instance in ready}
        if len(by_key) != len(ready):
            raise StoreError(f"create_run: duplicate task instance keys in run {run_key}")
        self._runs[run_key] = (replace(run, conf={}), conf)
        self._dag_ids_by_run_id.setdefault(run.run_id, set()).add(run.dag_id)
        self._instances[run_key] = by_key
        self._commit()
        return True

    async def start_run(
        self, dag_id: str, run_id: str, at: datetime, *, max_active: int | None = None
    ) -> bool:
        """A queued run starts running at ``at`` (with room under ``max_active``)."""
        await self._enter()
        at = checks.utc_time(at, "start_run")
        self._begin()
        stored = self._runs.get((dag_id, run_id))
        applied = stored is not None and stored[0].state is DagRunState.QUEUED
        if applied and max_active is not None:
            running = sum(
                1
                for (dag, _), (run, _) in self._runs.items()
                if dag == dag_id and run.state is DagRunState.RUNNING
            )
            applied = running < max_active
        if stored is not None and applied:
            record, conf = stored
            self._runs[(dag_id, run_id)] = (
                replace(record, state=DagRunState.RUNNING, start_date=at),
                conf,
            )
        self._commit()
        return applied

    async def finish_run(
        self,
        dag_id: str,
        run_id: str,
        state: DagRunState,
        at: datetime,
        *,
        stop_error: str | None = None,
    ) -> bool:
        """A running run ends in ``state``; with ``stop_error`` its unfinished instances end too."""
        await self._enter()
        at = checks.utc_time(at, "finish_run")
        self._begin()
        run_key = (dag_id, run_id)
        if not self._running(run_key):
            self._commit()
            return False
        record, conf = self._runs[run_key]
        self._runs[run_key] = (replace(record, state=state, end_date=at), conf)
        if stop_error is not None:
            by_key = self._instances[run_key]
            for slot, ti in by_key.items():
                if ti.state not in FINISHED_TASK_STATES:
                    by_key[slot] = checks.stopped(ti, at, stop_error)
        self._commit()
        return True

    async def reopen_run(self, dag_id: str, run_id: str, reopening: Reopening) -> bool:
        """A finished run is queued to run again, its instances changed by ``reopening``."""
        await self._enter()
        at = checks.utc_time(reopening.at, "reopen_run")
        self._begin()
        run_key = (dag_id, run_id)
        stored = self._runs.get(run_key)
        if stored is None or stored[0].state not in FINISHED_RUN_STATES:
            self._commit()
            return False
        record, conf = stored
        self._runs[run_key] = (replace(record, state=DagRunState.QUEUED, end_date=None), conf)
        by_key = self._instances[run_key]
        xcoms = self._xcoms.get(run_key, {})
        for task_id, map_index in reopening.clear:
            if (task_id, map_index) in by_key:
                by_key[(task_id, map_index)] = reopening_.cleared(by_key[(task_id, map_index)])
                _drop_xcoms(xcoms, task_id, map_index)
        for task_id in reopening.expand_again:
            mapped = [slot for slot in by_key if slot[0] == task_id]
            if mapped:
                by_key[(task_id, -1)] = reopening_.placeholder(by_key[mapped[0]])
            for slot in mapped:
                if slot[1] >= 0:
                    del by_key[slot]
                _drop_xcoms(xcoms, task_id, slot[1])
        for task_id, map_index, state in reopening.marks:
            if (task_id, map_index) in by_key:
                by_key[(task_id, map_index)] = reopening_.marked(
                    by_key[(task_id, map_index)], state, at
                )
        self._commit()
        return True

    async def mark_run_success(self, dag_id: str, run_id: str, at: datetime) -> bool:
        """Mark a run and every instance of it that is not ``success`` as ``success``."""
        await self._enter()
        at = checks.utc_time(at, "mark_run_success")
        self._begin()
        run_key = (dag_id, run_id)
        stored = self._runs.get(run_key)
        if stored is None or stored[0].state is DagRunState.SUCCESS:
            self._commit()
            return False
        record, conf = stored
        ended = record.end_date or at
        self._runs[run_key] = (replace(record, state=DagRunState.SUCCESS, end_date=ended), conf)
        by_key = self._instances[run_key]
        for slot, ti in by_key.items():
            if ti.state is not TaskState.SUCCESS:
                by_key[slot] = reopening_.marked(ti, TaskState.SUCCESS, at)
        self._commit()
        return True

    async def delete_run(self, dag_id: str, run_id: str) -> bool:
        """Delete a run that is not running, with its task instances and XCom."""
        await self._enter()
        self._begin()
        run_key = (dag_id, run_id)
        stored = self._runs.get(run_key)
        if stored is None or stored[0].state is DagRunState.RUNNING:
            self._commit()
            return False
        del self._runs[run_key]
        self._dag_ids_by_run_id[run_id].discard(dag_id)
        self._instances.pop(run_key, None)
        self._xcoms.pop(run_key, None)
        self._commit()
        return True

    async def get_run(self, dag_id: str, run_id: str) -> DagRunRecord | None:
        """The run with this identity, or ``None``."""
        await self._enter()
        stored = self._runs.get((dag_id, run_id))
        return None if stored is None else _thaw(stored)

    async def find_runs(self, run_id: str) -> list[DagRunRecord]:
        """Every run with this run_id, ordered by dag_id."""
        await self._enter()
        dag_ids = sorted(self._dag_ids_by_run_id.get(run_id, ()))
        return [_thaw(self._runs[(dag_id, run_id)]) for dag_id in dag_ids]

    async def list_runs(
        self, dag_id: str | None = None, states: Sequence[DagRunState] | None = None
    ) -> list[DagRunRecord]:
        """Runs, newest logical_date first (then by dag_id, run_id), optionally filtered."""
        await self._enter()
        wanted = None if states is None else frozenset(states)
        found = [
            stored
            for stored in self._runs.values()
            if (dag_id is None or stored[0].dag_id == dag_id)
            and (wanted is None or stored[0].state in wanted)
        ]
        found.sort(key=lambda stored: (stored[0].dag_id, stored[0].run_id))
        found.sort(key=lambda stored: stored[0].logical_date, reverse=True)
        return [_thaw(stored) for stored in found]

    async def get_task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceRecord]:
        """Every task instance of a run, ordered by task_id then map_index."""
        await self._enter()
        return sorted(self._instances.get((dag_id, run_id), {}).values(), key=_by_task_and_index)

    async def start_tries(
        self, owner: str, instances: Sequence[TaskInstanceRecord], *, patient: bool = False
    ) -> list[bool]:
        """Start a try of each instance whose guard holds (at once, ``patient`` or not)."""
        await self._enter()
        ready = checks.utc_instances(instances)
        return self._transition(
            [(new, new) for new in ready],
            guards.may_start,
            ("try_number", "start_date", "first_poke_at", "lease_expires_at"),
            state=TaskState.RUNNING,
            end_date=None,
            next_attempt_at=None,
            owner=owner,
        )

    async def record_reschedule(
        self, owner: str, instance: TaskInstanceRecord, xcoms: Sequence[XComRecord] = ()
    ) -> bool:
        """Record a reschedule-mode sensor's unfinished poke and its XCom, if still its try.

        Only what a poke changes is written, as the SQLite store's ``UPDATE`` does.
        """
        await self._enter()
        checks.check_reschedule(instance)
        checks.check_xcoms(instance, xcoms, "record_reschedule")
        new = checks.utc_instance(instance)
        [applied] = self._transition(
            [(new, new)],
            lambda stored, new: guards.in_try(stored, new, owner),
            ("end_date", "next_poke_at", "first_poke_at", "poke_count", "error"),
            state=TaskState.UP_FOR_RESCHEDULE,
            owner=None,
            lease_expires_at=None,
        )
        if applied:
            self._put_xcoms(xcoms)
        return applied

    async def finish_try(
        self,
        owner: str,
        instance: TaskInstanceRecord,
        xcoms: Sequence[XComRecord] = (),
        *,
        patient: bool = False,
    ) -> bool:
        """Record a try's outcome and its XCom together, if it is still the current try."""
        await self._enter()
        checks.check_xcoms(instance, xcoms, "finish_try")
        new = checks.utc_instance(instance)
        [applied] = self._transition(
            [(new, new)],
            lambda stored, new: guards.in_try(stored, new, owner),
            _FINISHED_FIELDS,
            owner=None,
            lease_expires_at=None,
        )
        if applied:
            self._put_xcoms(xcoms)
        return applied

    async def finish_tries(
        self,
        owner: str,
        tries: Sequence[tuple[TaskInstanceRecord, Sequence[XComRecord]]],
        *,
        patient: bool = False,
    ) -> list[bool]:
        """Record many tries' outcomes, each on its own guard, as one call."""
        return [await self.finish_try(owner, ti, xcoms, patient=patient) for ti, xcoms in tries]

    async def interrupt_tries(
        self, owner: str, instances: Sequence[TaskInstanceRecord]
    ) -> list[bool]:
        """Record tries a shutdown stopped (each only while it is still the current try)."""
        await self._enter()
        ready = checks.utc_instances(instances)
        return self._transition(
            [(new, new) for new in ready],
            lambda stored, new: guards.in_try(stored, new, owner),
            ("state", "end_date", "error", "interrupted_tries"),
            owner=None,
            lease_expires_at=None,
        )

    async def decide_instances(self, instances: Sequence[TaskInstanceRecord]) -> list[bool]:
        """End instances that never ran (each only while it has no state)."""
        await self._enter()
        ready = checks.utc_instances(instances)
        return self._transition(
            [(new, new) for new in ready],
            lambda stored, _: guards.undecided(stored),
            ("state", "start_date", "end_date", "error"),
        )

    async def recover_tries(
        self, changes: Sequence[tuple[TaskInstanceRecord, TaskInstanceRecord]]
    ) -> list[bool]:
        """End tries a stopped engine left in flight (each only while still as read)."""
        await self._enter()
        ready = [(read, checks.utc_instance(new)) for read, new in changes]
        return self._transition(
            ready,
            guards.unchanged,
            ("state", "end_date", "next_attempt_at", "next_poke_at", "error"),
            owner=None,
            lease_expires_at=None,
        )

    async def expand_task(
        self, dag_id: str, run_id: str, task_id: str, instances: Sequence[TaskInstanceRecord]
    ) -> bool:
        """Replace an undecided placeholder (map_index -1) by the mapped instances."""
        await self._enter()
        checks.check_expansion(dag_id, run_id, task_id, instances)
        ready = checks.utc_instances(instances)
        if len({instance.map_index for instance in ready}) != len(ready):
            raise StoreError(f"expand_task: duplicate map_index among {dag_id}/{run_id}/{task_id}")
        self._begin()
        by_key = self._instances.get((dag_id, run_id), {})
        applied = self._running((dag_id, run_id)) and guards.undecided(by_key.get((task_id, -1)))
        if applied:
            del by_key[(task_id, -1)]
            for new in ready:
                self._put(new)
        self._commit()
        return applied

    async def push_xcom(self, xcoms: Sequence[XComRecord]) -> None:
        """Upsert XCom values by ``(dag_id, run_id, task_id, map_index, key)``."""
        await self._enter()
        self._begin()
        self._require_runs("push_xcom", ((x.dag_id, x.run_id) for x in xcoms))
        self._put_xcoms(xcoms)
        self._commit()

    async def get_xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int
    ) -> XComRecord | None:
        """One XCom value, or ``None`` when it was never pushed."""
        await self._enter()
        return self._xcoms.get((dag_id, run_id), {}).get((task_id, key), {}).get(map_index)

    async def get_xcoms(self, dag_id: str, run_id: str, task_id: str, key: str) -> list[XComRecord]:
        """Every XCom value of a task under ``key``, ordered by map_index."""
        await self._enter()
        by_index = self._xcoms.get((dag_id, run_id), {}).get((task_id, key), {})
        return [by_index[index] for index in sorted(by_index)]

    async def get_run_xcoms(self, dag_id: str, run_id: str) -> list[XComRecord]:
        """Every XCom value of a run, ordered by task_id, map_index, then key."""
        await self._enter()
        slots = self._xcoms.get((dag_id, run_id), {})
        return sorted(
            (xcom for by_index in slots.values() for xcom in by_index.values()),
            key=_by_task_index_and_key,
        )

    async def delete_run_xcoms(self, dag_id: str, run_id: str) -> int:
        """Delete every XCom value of a run; returns how many there were."""
        await self._enter()
        self._begin()
        slots = self._xcoms.pop((dag_id, run_id), {})
        self._commit()
        return sum(len(by_index) for by_index in slots.values())

    async def set_dag_paused(self, dag_id: str, paused: bool) -> None:
        """Remember whether a DAG is paused."""
        await self._enter()
        self._begin()
        if paused:
            self._paused.add(dag_id)
        else:
            self._paused.discard(dag_id)
        self._commit()

    async def get_paused_dag_ids(self) -> set[str]:
        """The ids of every paused DAG."""
        await self._enter()
        return set(self._paused)

    async def _enter(self) -> None:
        # Every call yields to the loop once, as a real store's I/O does, so a
        # loop that only awaits the store cannot starve the other tasks.
        await anyio.lowlevel.checkpoint()
        if not self._is_open:
            raise StoreError("the memory store is not open; await store.open() first")

    def _begin(self) -> None:
        self._stats.writes += 1

    def _commit(self) -> None:
        self._stats.transactions += 1

    def _require_runs(self, operation: str, run_keys: Iterable[_RunKey]) -> None:
        for run_key in set(run_keys):
            if run_key not in self._runs:
                raise StoreError(f"{operation}: no run {run_key[0]}/{run_key[1]}")

    def _running(self, run_key: _RunKey) -> bool:
        stored = self._runs.get(run_key)
        return stored is not None and stored[0].state is DagRunState.RUNNING

    def _stored(self, instance: TaskInstanceRecord) -> TaskInstanceRecord | None:
        by_key = self._instances.get((instance.dag_id, instance.run_id))
        return None if by_key is None else by_key.get((instance.task_id, instance.map_index))

    def _put(self, instance: TaskInstanceRecord) -> None:
        self._instances[_run_key(instance)][(instance.task_id, instance.map_index)] = instance

    def _transition(
        self,
        pairs: Sequence[tuple[TaskInstanceRecord, TaskInstanceRecord]],
        guard: Callable[[TaskInstanceRecord | None, TaskInstanceRecord], bool],
        fields: tuple[str, ...],
        **fixed: Any,
    ) -> list[bool]:
        """One guarded change per instance, in one transaction; which ones applied.

        Each pair is (what ``guard`` compares the stored instance with, the new
        values); an instance whose guard holds on a running run takes ``fields``
        from the new values and ``fixed`` as given.
        """
        self._begin()
        applied = []
        for compared, new in pairs:
            stored = self._stored(new)
            ok = self._running(_run_key(new)) and guard(stored, compared)
            if ok and stored is not None:
                changes = {name: getattr(new, name) for name in fields}
                self._put(stored.evolve(**changes, **fixed))
            applied.append(ok)
        self._commit()
        return applied

    def _put_xcoms(self, xcoms: Iterable[XComRecord]) -> None:
        for xcom in xcoms:
            slots = self._xcoms.setdefault((xcom.dag_id, xcom.run_id), {})
            slots.setdefault((xcom.task_id, xcom.key), {})[xcom.map_index] = xcom


_FINISHED_FIELDS = (
    "state",
    "end_date",
    "next_attempt_at",
    "next_poke_at",
    "first_poke_at",
    "poke_count",
    "error",
)


def _drop_xcoms(
    slots: dict[_XComSlot, dict[int, XComRecord]], task_id: str, map_index: int
) -> None:
    """Delete one instance's XCom values under every key."""
    for (slot_task, _), by_index in slots.items():
        if slot_task == task_id:
            by_index.pop(map_index, None)


def _run_key(instance: TaskInstanceRecord) -> _RunKey:
    return (instance.dag_id, instance.run_id)


def _thaw(stored: tuple[DagRunRecord, str]) -> DagRunRecord:
    record, conf = stored
    return replace(record, conf=json.loads(conf))
