"""The PostgreSQL store's connections: one asyncpg pool, retries, and error wrapping.

Every statement goes through :class:`Connections`. A read that loses its
connection (the server restarted, an administrator or a proxy killed it) is
tried again on another, up to ``retries`` times with a doubling pause. A
transaction is tried again the same way when its connection is lost *before*
``COMMIT`` was sent: the server rolled it back, so trying again cannot apply it
twice. A connection lost *during* ``COMMIT`` hides whether it applied: the
transaction's id, taken when it began, is then looked up on a new connection
(``pg_xact_status``): committed, its results stand; aborted, it is tried again
like any other; only when the server cannot tell does the write fail with
:class:`CommitUnknown`, never reported durable. Serialization failures and deadlocks, which the
server resolves by rolling one transaction back, are tried again too.

Errors reach callers as one-line ``StoreError`` s naming the operation and the
database URL with its password masked, chained to asyncpg's error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias, TypeVar, cast

import anyio
import asyncpg
from asyncpg.pool import PoolConnectionProxy

from asyncflow.exceptions import StoreError
from asyncflow.storage.postgres.sqlfiles import QUERIES

T = TypeVar("T")
Record = asyncpg.Record
_CURRENT_XACT_ID = QUERIES["current_xact_id"]
_XACT_STATUS = QUERIES["xact_status"]
_SETTLE_LOOKS = 20  # a commit still in progress is looked at again, 50 ms apart
if TYPE_CHECKING:  # asyncpg's classes are generic in its stubs only
    Connection: TypeAlias = asyncpg.Connection[Record] | PoolConnectionProxy[Record]
else:
    Connection = asyncpg.Connection

_LOST_STATES = frozenset(
    {
        "57P01",  # admin_shutdown: pg_terminate_backend, or a server shutting down
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: the server is starting up
        "40001",  # serialization_failure: rolled back, safe to try again
        "40P01",  # deadlock_detected: rolled back, safe to try again
    }
)


def is_lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection (or its transaction) is gone, not the statement."""
    if isinstance(exc, asyncpg.PostgresConnectionError):  # class 08
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return exc.sqlstate in _LOST_STATES
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc)  # "connection is closed": used after it was lost
    if isinstance(exc, asyncpg.InternalClientError):
        # the protocol out of step, as when the server ends an idle connection just as
        # a statement starts on it: that connection is done for, not the statement
        return True
    return isinstance(exc, (OSError, TimeoutError))  # refused, reset, connect timeout


def is_statement_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is one statement's fault: its data (class 22) or a constraint (23)."""
    if isinstance(exc, asyncpg.PostgresError):
        return exc.sqlstate[:2] in ("22", "23")
    # asyncpg's own check of a parameter's Python type or value, before sending it
    return isinstance(exc, (ValueError, TypeError))


class CommitUnknown(StoreError):
    """The connection was lost while ``COMMIT`` was on its way: it may or may not have applied."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolOptions:
    """How the store's pool is sized and how often a lost connection is tried again."""

    min_size: int = 1
    max_size: int = 10
    retries: int = 5  # tries after the first, for a read or an uncommitted transaction
    first_pause: float = 0.1  # seconds before the first retry; each next one doubles
    connect_timeout: float = 10.0


class Connections:
    """One asyncpg pool for a store, with retries on lost connections.

    Args:
        dsn: the database URL as asyncpg takes it (``postgresql://...``); its
            query parameters other than asyncpg's own become server settings,
            e.g. ``?search_path=asyncflow``.
        shown: the URL as errors show it (password masked).
        options: pool size and retries.
    """

    def __init__(self, dsn: str, shown: str, options: PoolOptions) -> None:
        self._dsn = dsn
        self.shown = shown
        self._options = options
        self._pool: asyncpg.Pool[Record] | None = None

    @property
    def is_open(self) -> bool:
        """Whether the pool exists."""
        return self._pool is not None

    async def open(self) -> None:
        """Create the pool (its first connections), retrying while the server is not reachable.

        Raises:
            StoreError: the server is still unreachable after the retries, or
                refused the login.
        """
        if self._pool is not None:
            return

        async def create() -> asyncpg.Pool[Record]:
            return await asyncpg.create_pool(
                self._dsn,
                min_size=self._options.min_size,
                max_size=self._options.max_size,
                timeout=self._options.connect_timeout,
            )

        self._pool = await self._retrying("open", create)

    async def connect(self, operation: str) -> asyncpg.Connection[Record]:
        """A connection of its own, outside the pool (one that listens for notices).

        Raises:
            StoreError: the server is still unreachable after the retries.
        """

        async def once() -> asyncpg.Connection[Record]:
            return await asyncpg.connect(self._dsn, timeout=self._options.connect_timeout)

        return await self._retrying(operation, once)

    async def close(self) -> None:
        """Close every connection of the pool (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise self.error("close", exc) from exc

    async def fetch(self, operation: str, sql: str, *args: object) -> list[Record]:
        """The rows of one read statement, tried again on a lost connection.

        Raises:
            StoreError: the statement failed, or the connection stayed lost.
        """
        pool = self._require(operation)
        return await self._retrying(operation, lambda: pool.fetch(sql, *args))

    async def transaction(self, operation: str, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction and commit it; tried again if lost before COMMIT.

        ``work`` may run more than once (each time in a new transaction, the
        previous one rolled back), so it must only issue statements.

        Raises:
            CommitUnknown: the connection was lost during COMMIT.
            StoreError: the connection stayed lost through every retry.
            Exception: whatever ``work`` raised otherwise, unwrapped (the
                transaction rolled back).
        """
        pool = self._require(operation)

        async def once() -> T:
            committed: list[T] = []
            lost: _CommitLost | None = None
            try:
                async with pool.acquire() as connection:
                    try:
                        committed.append(await _commit_once(connection, work))
                    except _CommitLost as error:
                        lost = error
            except Exception:
                # giving a dead connection back to the pool fails too; once COMMIT has
                # been sent, that must not make the transaction run again
                if not committed and lost is None:
                    raise
            if committed:
                return committed[0]
            assert lost is not None
            return cast(T, await self._settle(operation, lost))

        return await self._retrying(operation, once)

    async def _settle(self, operation: str, lost: _CommitLost) -> object:
        """What became of a transaction whose COMMIT was cut off: its results, or raise.

        Raises:
            ConnectionResetError: it was rolled back (the caller tries it again).
            CommitUnknown: the server cannot tell (or still has it in progress).
        """
        status = None
        for _ in range(_SETTLE_LOOKS):
            status = await self.fetchval(operation, _XACT_STATUS, lost.xid)
            if status != "in progress":
                break
            await anyio.sleep(0.05)
        if status == "committed":
            return lost.result
        if status == "aborted":
            raise ConnectionResetError("the connection was lost before COMMIT applied")
        reason = " ".join(str(lost.__cause__).split()) or type(lost.__cause__).__name__
        raise CommitUnknown(
            f"{self.error(operation, None)}: the connection was lost during COMMIT, so "
            f"whether the write applied is unknown ({reason})"
        ) from lost.__cause__

    async def fetchval(self, operation: str, sql: str, *args: object) -> object:
        """The first value of one read statement, tried again on a lost connection."""
        pool = self._require(operation)
        return await self._retrying(operation, lambda: pool.fetchval(sql, *args))

    async def _retrying(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        pause = self._options.first_pause
        for retry in range(self._options.retries + 1):
            try:
                return await attempt()
            except Exception as exc:
                if not is_lost_connection(exc):
                    raise
                if retry == self._options.retries:
                    raise self.error(operation, exc) from exc
            await anyio.sleep(pause)
            pause *= 2
        raise AssertionError("unreachable: the last retry returns or raises")

    def _require(self, operation: str) -> asyncpg.Pool[Record]:
        if self._pool is None:
            raise StoreError(
                f"{operation}: the store on {self.shown} is not open; await open() first"
            )
        return self._pool

    def error(self, operation: str, exc: BaseException | None) -> StoreError:
        """A one-line StoreError naming the operation and the (masked) URL, chained to ``exc``."""
        if exc is None:
            return StoreError(f"{operation} failed on {self.shown}")
        reason = " ".join(str(exc).split()) or type(exc).__name__
        error = StoreError(f"{operation} failed on {self.shown}: {reason}")
        error.__cause__ = exc  # also when it is handed to a waiter rather than raised here
        return error


class _CommitLost(Exception):
    """The connection was lost while COMMIT was on its way; what the transaction returned."""

    def __init__(self, xid: object, result: object) -> None:
        super().__init__(xid)
        self.xid = xid
        self.result = result


async def _commit_once(connection: Connection, work: Callable[[Connection], Awaitable[T]]) -> T:
    transaction = connection.transaction()
    await transaction.start()
    try:
        xid = await connection.fetchval(_CURRENT_XACT_ID)
        result = await work(connection)
    except BaseException:
        # a lost connection takes its transaction with it: the server rolls it back
        if not connection.is_closed():
            with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await transaction.rollback()
        raise
    try:
        await transaction.commit()
    except Exception as exc:
        if is_lost_connection(exc):
            raise _CommitLost(xid, result) from exc
        raise
    return result
