"""``SqliteStore``: the embedded default store, one SQLite file through aiosqlite.

Connections. The store opens two: a *writer*, which applies every write, and a
*reader* (``query_only``), which serves every read. In WAL mode a reader sees
the last committed state without waiting for the writer, and never sees a batch
that is still being applied. Each aiosqlite connection has its own thread, so
reads also run while a batch commits.

Writes and group commit. A write method checks and encodes its records in the
caller's task, then queues one operation with
:class:`~asyncflow.storage.group_commit.GroupCommit` and waits until it has
committed. The leader of a batch applies its operations in queue order inside a
single ``BEGIN IMMEDIATE`` ... ``COMMIT``: consecutive operations of the same
shape (e.g. 500 ``start_tries`` calls, or 1,000 ``finish_try``
calls) are merged into one ``executemany`` per statement
(:mod:`asyncflow.storage.sqlite.ops`), so a batch costs a few thread round
trips however many callers it serves. A sensor's reschedule write
(``record_reschedule``), which nobody waits on to act, lingers up to
``linger`` seconds for company; any other write starts the batch at once and
takes the lingering ones with it. ``stats.writes`` counts write calls,
``stats.transactions`` commits.

Failures. If applying a batch fails because of one operation (a constraint,
an unknown run or task instance), the batch is rolled back and split in halves,
each retried as its own transaction, until the failing operation stands alone:
only its caller gets the error, everyone else's write commits, and the next
batch starts clean. A failure that is not any one operation's fault (the
database is locked by another process, the disk is full) fails the whole batch
without retrying. Driver errors reach callers as
:class:`~asyncflow.exceptions.StoreError`, one line naming the operation and the
database file, chained to the original.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack, suppress
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import ClassVar, cast

import aiosqlite

from asyncflow.exceptions import AsyncflowError, StoreError
from asyncflow.records import (
    DagRunRecord,
    EngineIdentity,
    Reopening,
    TaskInstanceRecord,
    XComRecord,
)
from asyncflow.states import DagRunState
from asyncflow.storage import checks
from asyncflow.storage.batches import OperationFailed, flush_isolating
from asyncflow.storage.group_commit import RESCHEDULE_LINGER_SECONDS, PendingWrite
from asyncflow.storage.sql_writes import RowCodec, SqlTransitions, WriteQueue
from asyncflow.storage.sqlite import codec, ops, schema
from asyncflow.storage.sqlite.codec import Row
from asyncflow.storage.sqlite.ops import Op, apply_ops
from asyncflow.storage.sqlite.owner_lock import OwnerLock
from asyncflow.storage.sqlite.sqlfiles import QUERIES

_GET_RUN = QUERIES["get_run"]
_FIND_RUNS = QUERIES["find_runs"]
_LIST_RUNS = QUERIES["list_runs"]
_LIST_RUNS_OF_DAG = QUERIES["list_runs_of_dag"]
_LIST_RUNS_IN_STATES = QUERIES["list_runs_in_states"]
_LIST_RUNS_OF_DAG_IN_STATES = QUERIES["list_runs_of_dag_in_states"]
_GET_INSTANCES = QUERIES["get_task_instances"]
_GET_XCOM = QUERIES["get_xcom"]
_GET_XCOMS = QUERIES["get_xcoms"]
_GET_RUN_XCOMS = QUERIES["get_run_xcoms"]
_SET_DAG_PAUSED = QUERIES["set_dag_paused"]
_GET_PAUSED_DAGS = QUERIES["get_paused_dags"]


class SqliteStore(SqlTransitions):
    """A :class:`~asyncflow.storage.protocol.Store` in one SQLite file.

    Args:
        path: the database file; it and its parent directory are created on
            :meth:`open` when missing.
        linger: how many seconds a reschedule write (or another write marked
            ``patient``) may wait for others to share its transaction
            (:data:`RESCHEDULE_LINGER_SECONDS`); every other write starts its
            transaction as soon as it can, taking the lingering ones with it.

    Example:
        >>> store = SqliteStore("asyncflow.db")
        >>> # await store.open(); ...; await store.close()
    """

    _codec: ClassVar[RowCodec] = codec
    _queries: ClassVar[Mapping[str, str]] = QUERIES

    def __init__(self, path: str | Path, *, linger: float = RESCHEDULE_LINGER_SECONDS) -> None:
        if str(path) == ":memory:" or str(path).startswith("file:"):
            raise StoreError(
                f"SqliteStore needs a file path, not {str(path)!r}; use memory:// in memory"
            )
        self._path = Path(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue = WriteQueue(self._flush, linger, self._check_open)
        self._lock = OwnerLock(self._path)
        self._applied: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self._path)!r}, open={self._writer is not None})"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def applied_migrations(self) -> tuple[str, ...]:
        """The migrations the last :meth:`open` applied, by file name."""
        return self._applied

    async def open(self) -> None:
        """Create the file if needed, connect and apply pending migrations (idempotent).

        Raises:
            StoreError: the file cannot be created or opened, is not a SQLite
                database, or has a schema newer than this version knows.
        """
        if self._writer is not None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error("open", exc) from exc
        async with AsyncExitStack() as stack:
            try:
                writer = await schema.connect(self._path, reader=False)
                stack.push_async_callback(writer.close)
                applied = await schema.migrate(writer)
                reader = await schema.connect(self._path, reader=True)
                stack.push_async_callback(reader.close)
            except (sqlite3.Error, StoreError) as exc:
                raise self._error("open", exc) from exc
            stack.pop_all()
        self._writer, self._reader = writer, reader
        self._applied = tuple(migration.name for migration in applied)

    async def acquire(self, owner: EngineIdentity) -> None:
        """Become the database's one owning engine (see :mod:`.owner_lock`).

        Raises:
            StoreInUse: another engine holds it; the message names it.
        """
        self._lock.acquire(owner)

    async def release(self, owner: EngineIdentity) -> None:
        """Let another engine own the database (when ``owner`` holds it)."""
        if self._lock.owner is not None and self._lock.owner.id == owner.id:
            self._lock.release()

    @property
    def lease_ttl(self) -> float | None:
        """``None``: ownership of this store lasts as long as its owner's process."""
        return None

    async def renew_lease(self, owner: EngineIdentity) -> datetime | None:
        """Nothing to renew: ownership of this store never expires."""
        return None

    async def close(self) -> None:
        """Commit every queued write, release ownership, close both connections (idempotent)."""
        if self._writer is None or self._reader is None:
            self._lock.release()
            return
        try:
            await self._queue.commits.drain()
        finally:
            self._lock.release()
            writer, reader = self._writer, self._reader
            self._writer = self._reader = None
            try:
                try:
                    await reader.close()
                finally:
                    await writer.close()
            except sqlite3.Error as exc:
                raise self._error("close", exc) from exc

    async def create_run(self, run: DagRunRecord, instances: Sequence[TaskInstanceRecord]) -> bool:
        """Insert a run and its task instances in one transaction.

        Returns:
            ``False``, changing nothing, when ``(dag_id, run_id)`` exists.
        """
        run = checks.utc_run(run)
        checks.check_run_instances(run, instances)
        run_row = codec.run_row(run, checks.conf_json(run))
        rows = [codec.instance_row(checks.utc_instance(ti)) for ti in instances]
        return bool(
            await self._write(Op("create_run", apply=partial(ops.insert_run, run_row, rows)))
        )

    async def start_run(
        self, dag_id: str, run_id: str, at: datetime, *, max_active: int | None = None
    ) -> bool:
        """A queued run starts running at ``at`` (with room under ``max_active``)."""
        row: Row = (codec.text(checks.utc_time(at, "start_run")), dag_id, run_id)
        if max_active is not None:
            row = (*row, max_active)
        return bool(await self._write(Op("start_run", apply=partial(ops.start_run, row))))

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
        when = codec.text(checks.utc_time(at, "finish_run"))
        row = (str(state), when, dag_id, run_id)
        stop = None if stop_error is None else (when, stop_error, dag_id, run_id)
        return bool(await self._write(Op("finish_run", apply=partial(ops.finish_run, row, stop))))

    async def reopen_run(self, dag_id: str, run_id: str, reopening: Reopening) -> bool:
        """A finished run is queued to run again, its instances changed by ``reopening``."""
        at = codec.text(checks.utc_time(reopening.at, "reopen_run"))
        key = (dag_id, run_id)
        again = [(*key, task_id) for task_id in reopening.expand_again]
        rows = ops.ReopenRows(
            key=key,
            cleared=[(*key, task_id, index) for task_id, index in reopening.clear],
            expanded_again=again,
            placeholders=[
                codec.instance_row(TaskInstanceRecord(dag_id=dag_id, run_id=run_id, task_id=t))
                for _, _, t in again
            ],
            marks=[(str(state), at, *key, t, index) for t, index, state in reopening.marks],
        )
        return bool(await self._write(Op("reopen_run", apply=partial(ops.reopen_run, rows))))

    async def mark_run_success(self, dag_id: str, run_id: str, at: datetime) -> bool:
        """Mark a run and every instance of it that is not ``success`` as ``success``."""
        row = (codec.text(checks.utc_time(at, "mark_run_success")), dag_id, run_id)
        apply = partial(ops.mark_run_success, row)
        return bool(await self._write(Op("mark_run_success", apply=apply)))

    async def delete_run(self, dag_id: str, run_id: str) -> bool:
        """Delete a run that is not running, with its task instances and XCom."""
        apply = partial(ops.delete_run, (dag_id, run_id))
        return bool(await self._write(Op("delete_run", apply=apply)))

    async def get_run(self, dag_id: str, run_id: str) -> DagRunRecord | None:
        """The run with this identity, or ``None``."""
        rows = await self._read("get_run", _GET_RUN, (dag_id, run_id))
        return codec.run_from_row(rows[0]) if rows else None

    async def find_runs(self, run_id: str) -> list[DagRunRecord]:
        """Every run with this run_id, ordered by dag_id."""
        return [
            codec.run_from_row(row) for row in await self._read("find_runs", _FIND_RUNS, (run_id,))
        ]

    async def list_runs(
        self, dag_id: str | None = None, states: Sequence[DagRunState] | None = None
    ) -> list[DagRunRecord]:
        """Runs, newest logical_date first (then by dag_id, run_id), optionally filtered."""
        sql: str
        params: Row
        if states is None:
            sql, params = (_LIST_RUNS, ()) if dag_id is None else (_LIST_RUNS_OF_DAG, (dag_id,))
        else:
            # The states travel as one JSON array, so each query stays one fixed statement.
            wanted = json.dumps([str(state) for state in states])
            if dag_id is None:
                sql, params = _LIST_RUNS_IN_STATES, (wanted,)
            else:
                sql, params = _LIST_RUNS_OF_DAG_IN_STATES, (dag_id, wanted)
        return [codec.run_from_row(row) for row in await self._read("list_runs", sql, params)]

    async def get_task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceRecord]:
        """Every task instance of a run, ordered by task_id then map_index."""
        rows = await self._read("get_task_instances", _GET_INSTANCES, (dag_id, run_id))
        return [codec.instance_from_row(row) for row in rows]

    async def expand_task(
        self, dag_id: str, run_id: str, task_id: str, instances: Sequence[TaskInstanceRecord]
    ) -> bool:
        """Replace an undecided placeholder (map_index -1) by the mapped instances."""
        checks.check_expansion(dag_id, run_id, task_id, instances)
        rows = [codec.instance_row(checks.utc_instance(ti)) for ti in instances]
        apply = partial(ops.expand_task, (dag_id, run_id, task_id), rows)
        return bool(await self._write(Op("expand_task", apply=apply)))

    async def get_xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int
    ) -> XComRecord | None:
        """One XCom value, or ``None`` when it was never pushed."""
        rows = await self._read("get_xcom", _GET_XCOM, (dag_id, run_id, task_id, key, map_index))
        return codec.xcom_from_row(rows[0]) if rows else None

    async def get_xcoms(self, dag_id: str, run_id: str, task_id: str, key: str) -> list[XComRecord]:
        """Every XCom value of a task under ``key``, ordered by map_index."""
        rows = await self._read("get_xcoms", _GET_XCOMS, (dag_id, run_id, task_id, key))
        return [codec.xcom_from_row(row) for row in rows]

    async def get_run_xcoms(self, dag_id: str, run_id: str) -> list[XComRecord]:
        """Every XCom value of a run, ordered by task_id, map_index, then key."""
        rows = await self._read("get_run_xcoms", _GET_RUN_XCOMS, (dag_id, run_id))
        return [codec.xcom_from_row(row) for row in rows]

    async def delete_run_xcoms(self, dag_id: str, run_id: str) -> int:
        """Delete every XCom value of a run; returns how many there were."""
        deleted = await self._write(
            Op("delete_run_xcoms", apply=partial(ops.delete_run_xcoms, (dag_id, run_id)))
        )
        return cast(int, deleted)

    async def set_dag_paused(self, dag_id: str, paused: bool) -> None:
        """Remember whether a DAG is paused."""
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        await self._write(Op("set_dag_paused", (_SET_DAG_PAUSED,), ([(dag_id, int(paused), now)],)))

    async def get_paused_dag_ids(self) -> set[str]:
        """The ids of every paused DAG."""
        rows = await self._read("get_paused_dag_ids", _GET_PAUSED_DAGS, ())
        return {str(row[0]) for row in rows}

    async def _read(self, operation: str, sql: str, params: Row) -> list[Row]:
        if self._reader is None:
            raise self._not_open(operation)
        try:
            rows = await self._reader.execute_fetchall(sql, params)
        except sqlite3.Error as exc:
            raise self._error(operation, exc) from exc
        return cast("list[Row]", list(rows))  # no row_factory: rows are plain tuples

    async def _write(self, op: Op) -> object:
        return await self._queue.submit(op)

    def _check_open(self, operation: str) -> None:
        if self._writer is None:
            raise self._not_open(operation)

    async def _flush(self, batch: list[PendingWrite[Op]]) -> None:
        """Commit a batch in one transaction, splitting it to isolate a failing write."""
        await flush_isolating(batch, self._transaction, self._caller_error)

    async def _transaction(self, ops: list[Op]) -> list[object]:
        writer = self._writer
        if writer is None:
            raise self._not_open(ops[0].name)
        if writer.in_transaction:  # a ROLLBACK that failed must not wedge every later batch
            await writer.execute("ROLLBACK")
        await writer.execute("BEGIN IMMEDIATE")
        applied = False
        try:
            results = await apply_ops(writer, ops)
            applied = True
            await writer.execute("COMMIT")
        except Exception as exc:
            with suppress(sqlite3.Error):
                await writer.execute("ROLLBACK")
            if not applied and not isinstance(exc, sqlite3.OperationalError):
                raise OperationFailed from exc
            raise
        self._queue.stats.transactions += 1
        return results

    def _caller_error(self, operation: str, exc: Exception) -> Exception:
        # A store's own domain errors reach the caller as they are.
        return exc if isinstance(exc, AsyncflowError) else self._error(operation, exc)

    def _error(self, operation: str, exc: BaseException) -> StoreError:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        error = StoreError(f"{operation} failed on {self._path}: {reason}")
        error.__cause__ = exc  # also when it is handed to a waiter rather than raised here
        return error

    def _not_open(self, operation: str) -> StoreError:
        return StoreError(f"{operation}: the store on {self._path} is not open; await open() first")
