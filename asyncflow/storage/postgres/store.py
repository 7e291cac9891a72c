"""``PostgresStore``: the store that many engines share, on PostgreSQL through asyncpg.

Connections. One asyncpg pool per store (:mod:`.connections`): reads take any
connection; a batch of writes takes one for its transaction. A lost connection
is survived: reads, and transactions that had not reached ``COMMIT``, are tried
again on a new one.

Writes and group commit, as in the SQLite store: a write method checks and
encodes its records in the caller's task, queues one operation with
:class:`~asyncflow.storage.group_commit.GroupCommit` and waits until it has
committed. The leader of a batch applies its operations in queue order in one
transaction; consecutive operations of the same shape share one statement
(:mod:`.ops`). A reschedule write, or another ``patient`` one, lingers up to
``linger`` seconds for company. A batch that fails because of one operation (a
constraint, an unknown run) is split until that operation stands alone
(:func:`~asyncflow.storage.batches.flush_isolating`).

Ownership: many engines may acquire the store, each with a lease it renews
(:mod:`.leases`), and share its work (:mod:`.sharing`): the engine that starts
a run drives it, any engine claims the instances offered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import ClassVar, TypeVar, cast

from asyncflow.exceptions import AsyncflowError, StoreError, StoreInUse
from asyncflow.records import (
    DagRunRecord,
    EngineIdentity,
    Reopening,
    TaskInstanceRecord,
    XComRecord,
)
from asyncflow.settings import Settings
from asyncflow.states import DagRunState
from asyncflow.storage import checks, mask_url
from asyncflow.storage.batches import OperationFailed, flush_isolating
from asyncflow.storage.group_commit import RESCHEDULE_LINGER_SECONDS, PendingWrite
from asyncflow.storage.postgres import codec, leases, ops, schema, sharing
from asyncflow.storage.postgres.codec import Row
from asyncflow.storage.postgres.connections import (
    Connection,
    Connections,
    PoolOptions,
    Record,
    is_lost_connection,
    is_statement_fault,
)
from asyncflow.storage.postgres.leases import LEASE_TTL_SECONDS, EngineLease
from asyncflow.storage.postgres.ops import Op
from asyncflow.storage.postgres.sqlfiles import QUERIES
from asyncflow.storage.sharing import EndedInstance, InstanceKey, Notice, Offer, Reaped
from asyncflow.storage.sql_writes import RowCodec, SqlTransitions, WriteQueue

T = TypeVar("T")

_Q = QUERIES
_LIST_RUNS = {
    (False, False): _Q["list_runs"],
    (True, False): _Q["list_runs_of_dag"],
    (False, True): _Q["list_runs_in_states"],
    (True, True): _Q["list_runs_of_dag_in_states"],
}


class PostgresStore(SqlTransitions):
    """A :class:`~asyncflow.storage.protocol.Store` in a PostgreSQL database.

    Args:
        url: ``postgresql://user:pass@host:port/db`` (also ``postgres://`` and
            ``postgresql+asyncpg://``); query parameters other than asyncpg's
            own are server settings, e.g. ``?search_path=asyncflow`` to keep
            the tables in the (existing) schema ``asyncflow``.
        pool: the pool's size and the retries on a lost connection.
        lease_ttl: seconds an engine's lease lasts past its last heartbeat.
        exclusive: refuse an engine while another holds a live lease, and
            share no work (one engine at a time, as on SQLite).
        linger: seconds a ``patient`` write may wait for others to share its
            transaction.

    Example:
        >>> store = PostgresStore("postgresql://flow@db:5432/flows")
        >>> # await store.open(); ...; await store.close()
    """

    _codec: ClassVar[RowCodec] = codec
    _queries: ClassVar[Mapping[str, str]] = QUERIES

    def __init__(
        self,
        url: str,
        *,
        pool: PoolOptions | None = None,
        lease_ttl: float = LEASE_TTL_SECONDS,
        exclusive: bool = False,
        linger: float = RESCHEDULE_LINGER_SECONDS,
    ) -> None:
        scheme, sep, rest = url.partition("://")
        dsn = f"postgresql://{rest}" if scheme.lower() == "postgresql+asyncpg" and sep else url
        self._url = mask_url(url)
        self._connections = Connections(dsn, self._url, pool or PoolOptions())
        self._lease_ttl = lease_ttl
        self._exclusive = exclusive
        self._queue = WriteQueue(self._flush, linger, self._check_open)
        self._owners: dict[str, EngineIdentity] = {}
        self._driver: str | None = None  # the engine that drives the runs this store starts
        self._applied: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, url: str, settings: Settings) -> PostgresStore:
        """A store sized as ``settings`` say (``ASYNCFLOW_POSTGRES_*``)."""
        pool = PoolOptions(
            min_size=settings.postgres_pool_min_size,
            max_size=settings.postgres_pool_max_size,
            retries=settings.postgres_retries,
        )
        return cls(url, pool=pool, lease_ttl=settings.postgres_lease_ttl_seconds)

    def __repr__(self) -> str:
        return f"PostgresStore({self._url!r}, open={self._connections.is_open})"

    @property
    def url(self) -> str:
        """The database URL, with any password masked."""
        return self._url

    @property
    def applied_migrations(self) -> tuple[str, ...]:
        """The migrations the last :meth:`open` applied, by file name."""
        return self._applied

    @property
    def lease_ttl(self) -> float | None:
        """Seconds an engine's lease lasts past its last heartbeat."""
        return self._lease_ttl

    async def open(self) -> None:
        """Create the pool and apply pending migrations (idempotent).

        Raises:
            StoreError: the server cannot be reached, refuses the login, the
                schema does not exist, or it is newer than this version knows.
        """
        if self._connections.is_open:
            return
        try:
            await self._connections.open()
            applied = await self._connections.transaction("open", schema.migrate)
        except BaseException as exc:
            await self._connections.close()
            if isinstance(exc, Exception) and not isinstance(exc, AsyncflowError):
                raise self._connections.error("open", exc) from exc
            raise
        self._applied = tuple(migration.name for migration in applied)

    async def close(self) -> None:
        """Commit every queued write, release this store's leases, close the pool (idempotent)."""
        if not self._connections.is_open:
            return
        try:
            await self._queue.commits.drain()
            for owner in list(self._owners.values()):
                await self.release(owner)
        finally:
            await self._connections.close()

    async def reset(self) -> None:
        """Drop every table of asyncflow with all in it, then create them again.

        Raises:
            StoreInUse: an engine still holds a live lease on the store.
        """
        live = [lease for lease in await self.engines() if lease.live]
        if live:
            held = "; ".join(lease.engine.describe() for lease in live)
            raise StoreInUse(
                f"{self._url} is in use by {len(live)} engine(s) ({held}); stop them first"
            )
        await self._connections.transaction("reset", schema.drop_tables)
        applied = await self._connections.transaction("reset", schema.migrate)
        self._applied = tuple(migration.name for migration in applied)

    # --- ownership ---------------------------------------------------------------------
    async def acquire(self, owner: EngineIdentity) -> None:
        """Register ``owner`` with a fresh lease; engines whose lease expired are dropped.

        Raises:
            StoreInUse: the store is exclusive and another engine holds a live lease.
        """
        await leases.register(self._connections, owner, self._lease_ttl, exclusive=self._exclusive)
        self._owners[owner.id] = owner
        self._driver = owner.id

    async def renew_lease(self, owner: EngineIdentity) -> datetime:
        """Extend ``owner``'s lease by :attr:`lease_ttl` from now; when it expires now.

        Raises:
            LeaseLost: ``owner`` holds no lease (released, or taken over).
        """
        return await leases.renew(self._connections, owner, self._lease_ttl)

    async def release(self, owner: EngineIdentity) -> None:
        """Delete ``owner``'s lease (idempotent)."""
        await leases.release(self._connections, owner)
        self._owners.pop(owner.id, None)
        if self._driver == owner.id:
            self._driver = None

    async def engines(self) -> list[EngineLease]:
        """Every engine registered on the store, live or with an expired lease."""
        return await leases.engines(self._connections)

    # --- sharing work ------------------------------------------------------------------
    @property
    def shares_work(self) -> bool:
        """Whether engines on this store share its work (all but an ``exclusive`` store)."""
        return not self._exclusive

    async def offer(self, offers: Sequence[Offer]) -> list[bool]:
        """Offer instances for a try; per offer, whether it applied."""
        rows = [sharing.offer_row(offer) for offer in offers]
        op = Op("offer", (_Q["offer_instances"],), (rows,), guarded=True)
        return cast("list[bool]", await self._write(op))

    async def claim(
        self, owner: str, queues: Sequence[str], limit: int, pools: Mapping[str, int]
    ) -> list[TaskInstanceRecord]:
        """Claim up to ``limit`` offered instances in ``queues`` (pools' room permitting)."""
        return await self._guard(
            "claim", sharing.claim(self._connections, owner, queues, limit, pools)
        )

    async def unclaim(self, owner: str, instances: Sequence[TaskInstanceRecord]) -> None:
        """Offer claimed instances again."""
        await self._guard("unclaim", sharing.unclaim(self._connections, owner, instances))

    async def ended_instances(self, keys: Sequence[InstanceKey]) -> list[EndedInstance]:
        """The instances with these keys as stored, with what a successful branch skipped."""
        return await self._guard(
            "ended_instances", sharing.ended_instances(self._connections, keys)
        )

    async def reap(self, owner: EngineIdentity) -> Reaped:
        """Drop engines past their lease; who they were, and when the next lease expires."""
        return await self._guard("reap", sharing.reap(self._connections, owner))

    async def orphaned_instances(self) -> list[TaskInstanceRecord]:
        """Instances claimed or running in an engine with no lease, on running runs."""
        return await self._guard(
            "orphaned_instances", sharing.orphaned_instances(self._connections)
        )

    async def adopt_runs(self, owner: str, dag_ids: Sequence[str]) -> list[DagRunRecord]:
        """Drive the running runs of ``dag_ids`` whose driver holds no lease."""
        return await self._guard(
            "adopt_runs", sharing.adopt_runs(self._connections, owner, dag_ids)
        )

    async def publish(self, channel: str, payload: str) -> None:
        """Send a notice to every engine listening."""
        await self._guard("publish", sharing.publish(self._connections, channel, payload))

    async def listen(self, on_notice: Notice) -> None:
        """Call ``on_notice(channel, payload)`` for every notice until cancelled."""
        self._check_open("listen")
        await sharing.listen(self._connections, on_notice)

    # --- runs --------------------------------------------------------------------------
    async def create_run(self, run: DagRunRecord, instances: Sequence[TaskInstanceRecord]) -> bool:
        """Insert a run and its task instances; ``False``, changing nothing, when it exists."""
        run = checks.utc_run(run)
        checks.check_run_instances(run, instances)
        run_row = (*codec.run_row(run, checks.conf_json(run)), self._driver)
        rows = [codec.instance_row(checks.utc_instance(ti)) for ti in instances]
        return bool(await self._apply("create_run", partial(ops.insert_run, run_row, rows)))

    async def start_run(
        self, dag_id: str, run_id: str, at: datetime, *, max_active: int | None = None
    ) -> bool:
        """A queued run starts running at ``at`` (with room under ``max_active``).

        Starts of one DAG's runs with a limit take an advisory lock per DAG, so
        that engines starting runs at once count each other's.
        """
        row: Row = (dag_id, run_id, checks.utc_time(at, "start_run"), self._driver)
        if max_active is not None:
            row = (*row, max_active)
        return bool(await self._apply("start_run", partial(ops.start_run, row)))

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
        when = checks.utc_time(at, "finish_run")
        row = (dag_id, run_id, str(state), when)
        stop = None if stop_error is None else (dag_id, run_id, when, stop_error)
        return bool(await self._apply("finish_run", partial(ops.finish_run, row, stop)))

    async def reopen_run(self, dag_id: str, run_id: str, reopening: Reopening) -> bool:
        """A finished run is queued to run again, its instances changed by ``reopening``."""
        reopening = replace(reopening, at=checks.utc_time(reopening.at, "reopen_run"))
        placeholders = [
            codec.instance_row(TaskInstanceRecord(dag_id=dag_id, run_id=run_id, task_id=task_id))
            for task_id in reopening.expand_again
        ]
        apply = partial(ops.reopen_run, (dag_id, run_id), reopening, placeholders)
        return bool(await self._apply("reopen_run", apply))

    async def mark_run_success(self, dag_id: str, run_id: str, at: datetime) -> bool:
        """Mark a run and every instance of it that is not ``success`` as ``success``."""
        row = (dag_id, run_id, checks.utc_time(at, "mark_run_success"))
        return bool(await self._apply("mark_run_success", partial(ops.mark_run_success, row)))

    async def delete_run(self, dag_id: str, run_id: str) -> bool:
        """Delete a run that is not running, with its task instances and XCom."""
        return bool(await self._apply("delete_run", partial(ops.delete_run, (dag_id, run_id))))

    async def get_run(self, dag_id: str, run_id: str) -> DagRunRecord | None:
        """The run with this identity, or ``None``."""
        rows = await self._read("get_run", _Q["get_run"], dag_id, run_id)
        return codec.run_from_record(rows[0]) if rows else None

    async def find_runs(self, run_id: str) -> list[DagRunRecord]:
        """Every run with this run_id, ordered by dag_id."""
        rows = await self._read("find_runs", _Q["find_runs"], run_id)
        return [codec.run_from_record(row) for row in rows]

    async def list_runs(
        self, dag_id: str | None = None, states: Sequence[DagRunState] | None = None
    ) -> list[DagRunRecord]:
        """Runs, newest logical_date first (then by dag_id, run_id), optionally filtered."""
        params: list[object] = [] if dag_id is None else [dag_id]
        if states is not None:
            params.append([str(state) for state in states])
        sql = _LIST_RUNS[(dag_id is not None, states is not None)]
        return [codec.run_from_record(row) for row in await self._read("list_runs", sql, *params)]

    # --- task instances ----------------------------------------------------------------
    async def get_task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceRecord]:
        """Every task instance of a run, ordered by task_id then map_index."""
        rows = await self._read("get_task_instances", _Q["get_task_instances"], dag_id, run_id)
        return [codec.instance_from_record(row) for row in rows]

    async def expand_task(
        self, dag_id: str, run_id: str, task_id: str, instances: Sequence[TaskInstanceRecord]
    ) -> bool:
        """Replace an undecided placeholder (map_index -1) by the mapped instances."""
        checks.check_expansion(dag_id, run_id, task_id, instances)
        rows = [codec.instance_row(checks.utc_instance(ti)) for ti in instances]
        apply = partial(ops.expand_task, (dag_id, run_id, task_id), rows)
        return bool(await self._apply("expand_task", apply))

    # --- XCom and DAGs -----------------------------------------------------------------
    async def get_xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int
    ) -> XComRecord | None:
        """One XCom value, or ``None`` when it was never pushed."""
        rows = await self._read("get_xcom", _Q["get_xcom"], dag_id, run_id, task_id, key, map_index)
        return codec.xcom_from_record(rows[0]) if rows else None

    async def get_xcoms(self, dag_id: str, run_id: str, task_id: str, key: str) -> list[XComRecord]:
        """Every XCom value of a task under ``key``, ordered by map_index."""
        rows = await self._read("get_xcoms", _Q["get_xcoms"], dag_id, run_id, task_id, key)
        return [codec.xcom_from_record(row) for row in rows]

    async def get_run_xcoms(self, dag_id: str, run_id: str) -> list[XComRecord]:
        """Every XCom value of a run, ordered by task_id, map_index, then key."""
        rows = await self._read("get_run_xcoms", _Q["get_run_xcoms"], dag_id, run_id)
        return [codec.xcom_from_record(row) for row in rows]

    async def delete_run_xcoms(self, dag_id: str, run_id: str) -> int:
        """Delete every XCom value of a run; returns how many there were."""
        apply = partial(ops.delete_run_xcoms, (dag_id, run_id))
        return cast(int, await self._apply("delete_run_xcoms", apply))

    async def set_dag_paused(self, dag_id: str, paused: bool) -> None:
        """Remember whether a DAG is paused."""
        row = (dag_id, paused, datetime.now(UTC))
        await self._write(Op("set_dag_paused", (_Q["set_dag_paused"],), ([row],)))

    async def get_paused_dag_ids(self) -> set[str]:
        """The ids of every paused DAG."""
        rows = await self._read("get_paused_dag_ids", _Q["get_paused_dags"])
        return {str(row[0]) for row in rows}

    # --- plumbing ----------------------------------------------------------------------
    async def _guard(self, operation: str, call: Awaitable[T]) -> T:
        """Await a call of the sharing module with its driver errors wrapped."""
        self._check_open(operation)
        try:
            return await call
        except AsyncflowError:
            raise
        except Exception as exc:
            raise self._connections.error(operation, exc) from exc

    async def _read(self, operation: str, sql: str, *params: object) -> list[Record]:
        try:
            return await self._connections.fetch(operation, sql, *params)
        except StoreError:
            raise
        except Exception as exc:
            raise self._connections.error(operation, exc) from exc

    def _check_open(self, operation: str) -> None:
        if not self._connections.is_open:
            raise StoreError(
                f"{operation}: the store on {self._url} is not open; await open() first"
            )

    async def _apply(self, name: str, apply: ops.Apply) -> object:
        return await self._write(Op(name, apply=apply))

    async def _write(self, op: Op) -> object:
        return await self._queue.submit(op)

    async def _flush(self, batch: list[PendingWrite[Op]]) -> None:
        await flush_isolating(batch, self._transaction, self._caller_error)

    async def _transaction(self, batch: list[Op]) -> list[object]:
        async def work(connection: Connection) -> list[object]:
            try:
                return await ops.apply_ops(connection, batch)
            except Exception as exc:
                if is_statement_fault(exc) and not is_lost_connection(exc):
                    raise OperationFailed from exc
                raise

        results = await self._connections.transaction(batch[0].name, work)
        self._queue.stats.transactions += 1
        return results

    def _caller_error(self, operation: str, exc: Exception) -> Exception:
        # A store's own domain errors reach the caller as they are.
        return exc if isinstance(exc, AsyncflowError) else self._connections.error(operation, exc)
