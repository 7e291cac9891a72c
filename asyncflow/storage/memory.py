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
from collections.abc import Iterable, Sequence
from dataclasses import replace
from operator import attrgetter

import anyio.lowlevel

from asyncflow.exceptions import DagRunNotFound, StoreError
from asyncflow.records import DagRunRecord, StoreStats, TaskInstanceRecord, XComRecord
from asyncflow.states import DagRunState, TaskState
from asyncflow.storage import checks

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

    def __repr__(self) -> str:
        return f"MemoryStore(runs={len(self._runs)}, open={self._is_open})"

    @property
    def stats(self) -> StoreStats:
        """Counters of write calls; each one is a transaction of its own."""
        return self._stats

    async def open(self) -> None:
        """Make the store usable (idempotent); the data is kept across close/open."""
        self._is_open = True

    async def close(self) -> None:
        """Refuse further calls until the next :meth:`open`; the data is kept."""
        self._is_open = False

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

    async def update_run(self, run: DagRunRecord) -> None:
        """Replace the state, start_date and end_date of an existing run."""
        await self._enter()
        run = checks.utc_run(run)
        self._begin()
        run_key = (run.dag_id, run.run_id)
        stored = self._runs.get(run_key)
        if stored is None:
            raise DagRunNotFound(f"update_run: no run {run.dag_id}/{run.run_id}")
        record, conf = stored
        self._runs[run_key] = (
            replace(record, state=run.state, start_date=run.start_date, end_date=run.end_date),
            conf,
        )
        self._commit()

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

    async def set_task_instances(
        self, instances: Sequence[TaskInstanceRecord], *, patient: bool = False
    ) -> None:
        """Upsert task instances by their key, all or none (at once, ``patient`` or not)."""
        await self._enter()
        ready = checks.utc_instances(instances)
        self._begin()
        self._require_runs("set_task_instances", ((i.dag_id, i.run_id) for i in ready))
        self._put_instances(ready)
        self._commit()

    async def expand_task(
        self, dag_id: str, run_id: str, task_id: str, instances: Sequence[TaskInstanceRecord]
    ) -> None:
        """Replace a mapped task's placeholder (map_index -1) by its mapped instances."""
        await self._enter()
        checks.check_expansion(dag_id, run_id, task_id, instances)
        ready = checks.utc_instances(instances)
        self._begin()
        # Like a foreign key: writing an instance needs its run; removing a
        # placeholder that is not there is a no-op.
        self._require_runs("expand_task", [(dag_id, run_id)] if ready else [])
        self._instances.get((dag_id, run_id), {}).pop((task_id, -1), None)
        self._put_instances(ready)
        self._commit()

    async def finish_task_instance(
        self,
        instance: TaskInstanceRecord,
        xcoms: Sequence[XComRecord] = (),
        *,
        patient: bool = False,
    ) -> None:
        """Record a try's outcome and the XCom it produced, together (at once)."""
        await self._enter()
        checks.check_xcoms(instance, xcoms)
        ready = checks.utc_instance(instance)
        self._begin()
        self._require_runs("finish_task_instance", [(instance.dag_id, instance.run_id)])
        self._put_instances([ready])
        self._put_xcoms(xcoms)
        self._commit()

    async def reschedule_task_instance(
        self, instance: TaskInstanceRecord, xcoms: Sequence[XComRecord] = ()
    ) -> None:
        """Record a reschedule-mode sensor's poke that did not finish, with its XCom.

        Only what a poke changes is written; the try's own fields keep their
        stored values, as the SQLite store's ``UPDATE`` keeps them.
        """
        await self._enter()
        checks.check_reschedule(instance)
        checks.check_xcoms(instance, xcoms, "reschedule_task_instance")
        ready = checks.utc_instance(instance)
        self._begin()
        by_key = self._instances.get((ready.dag_id, ready.run_id), {})
        slot = (ready.task_id, ready.map_index)
        stored = by_key.get(slot)
        if stored is None:
            raise checks.missing_instance("reschedule_task_instance", ready.key)
        by_key[slot] = replace(
            stored,
            state=TaskState.UP_FOR_RESCHEDULE,
            end_date=ready.end_date,
            next_poke_at=ready.next_poke_at,
            first_poke_at=ready.first_poke_at,
            poke_count=ready.poke_count,
            owner=ready.owner,
            lease_expires_at=ready.lease_expires_at,
            error=ready.error,
        )
        self._put_xcoms(xcoms)
        self._commit()

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

    def _put_instances(self, instances: Iterable[TaskInstanceRecord]) -> None:
        run_key: _RunKey | None = None
        by_key: dict[tuple[str, int], TaskInstanceRecord] = {}
        for instance in instances:
            if (instance.dag_id, instance.run_id) != run_key:  # usually one run per call
                run_key = (instance.dag_id, instance.run_id)
                by_key = self._instances[run_key]
            by_key[(instance.task_id, instance.map_index)] = instance

    def _put_xcoms(self, xcoms: Iterable[XComRecord]) -> None:
        for xcom in xcoms:
            slots = self._xcoms.setdefault((xcom.dag_id, xcom.run_id), {})
            slots.setdefault((xcom.task_id, xcom.key), {})[xcom.map_index] = xcom


def _thaw(stored: tuple[DagRunRecord, str]) -> DagRunRecord:
    record, conf = stored
    return replace(record, conf=json.loads(conf))
