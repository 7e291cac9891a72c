"""The SQLite store's write operations, and how a batch of them is applied.

Operations are :class:`~asyncflow.storage.batches.Op` s; consecutive ones of
the same shape share one ``executemany`` per statement. A merged
``executemany`` reports only its total row count, so when that falls short the
statement is undone to a savepoint and its rows are applied one by one to learn
which ones hold: the common case, every write current, costs one call.

:func:`apply_ops` applies a batch inside the transaction the store opened; an
exception it raises is the fault of the operations it names, and the store
isolates the one at fault by splitting the batch.
"""

from __future__ import annotations

import aiosqlite

from asyncflow.storage import batches
from asyncflow.storage.sqlite.codec import Row
from asyncflow.storage.sqlite.sqlfiles import QUERIES

_INSERT_RUN = QUERIES["insert_run"]
_INSERT_INSTANCE = QUERIES["insert_task_instance"]
_DELETE_RUN_XCOMS = QUERIES["delete_run_xcoms"]
_DELETE_PLACEHOLDER = QUERIES["delete_placeholder"]
_START_RUN = QUERIES["start_run"]
_FINISH_RUN = QUERIES["finish_run"]
_STOP_UNFINISHED = QUERIES["stop_unfinished"]
_REOPEN_RUN = QUERIES["reopen_run"]
_CLEAR_INSTANCES = QUERIES["clear_instances"]

Op = batches.Op


async def apply_ops(writer: aiosqlite.Connection, ops: list[Op]) -> list[object]:
    """Apply operations in order, merging runs of the same shape into executemany calls.

    Returns:
        Each operation's result, in order: a list of flags for a guarded one,
        ``None`` for another merged one.

    Raises:
        sqlite3.Error: a statement failed.
    """
    return await batches.apply_ops(writer, ops, _apply_guarded)


async def _apply_guarded(
    writer: aiosqlite.Connection, sql: str, per_op: list[list[Row]]
) -> list[list[bool]]:
    """Apply a transition's rows; which of each operation's rows matched."""
    rows = [row for op_rows in per_op for row in op_rows]
    if len(rows) <= 1:  # a lone row's count says it all: no savepoint (two thread hops) needed
        applied = [(await writer.execute(sql, row)).rowcount == 1 for row in rows]
        return [applied if op_rows else [] for op_rows in per_op]
    await writer.execute("SAVEPOINT guarded")
    cursor = await writer.executemany(sql, rows)
    if cursor.rowcount == len(rows):
        await writer.execute("RELEASE guarded")
        return [[True] * len(op_rows) for op_rows in per_op]
    await writer.execute("ROLLBACK TO guarded")  # some are stale: learn which, one by one
    flags = []
    for op_rows in per_op:
        applied = []
        for row in op_rows:
            cursor = await writer.execute(sql, row)
            applied.append(cursor.rowcount == 1)
        flags.append(applied)
    await writer.execute("RELEASE guarded")
    return flags


async def insert_run(run_row: Row, instance_rows: list[Row], writer: aiosqlite.Connection) -> bool:
    """Insert a run and its instances; ``False``, inserting nothing, when the run exists."""
    cursor = await writer.execute(_INSERT_RUN, run_row)
    if cursor.rowcount == 0:
        return False
    if instance_rows:
        await writer.executemany(_INSERT_INSTANCE, instance_rows)
    return True


async def delete_run_xcoms(key: Row, writer: aiosqlite.Connection) -> int:
    """Delete a run's XCom values; returns how many there were."""
    cursor = await writer.execute(_DELETE_RUN_XCOMS, key)
    return cursor.rowcount


async def start_run(row: Row, writer: aiosqlite.Connection) -> bool:
    """A queued run starts; whether it was queued."""
    cursor = await writer.execute(_START_RUN, row)
    return cursor.rowcount == 1


async def finish_run(row: Row, stop: Row | None, writer: aiosqlite.Connection) -> bool:
    """A running run ends (its unfinished instances too, given ``stop``); whether it ran."""
    cursor = await writer.execute(_FINISH_RUN, row)
    if cursor.rowcount != 1:
        return False
    if stop is not None:
        await writer.execute(_STOP_UNFINISHED, stop)
    return True


async def reopen_run(key: Row, states: str, writer: aiosqlite.Connection) -> bool:
    """A finished run runs again with the instances in ``states`` (JSON) cleared."""
    cursor = await writer.execute(_REOPEN_RUN, key)
    if cursor.rowcount != 1:
        return False
    await writer.execute(_CLEAR_INSTANCES, (*key, states))
    return True


async def expand_task(
    placeholder: Row, instance_rows: list[Row], writer: aiosqlite.Connection
) -> bool:
    """Replace an undecided placeholder by the mapped instances; whether it was there."""
    cursor = await writer.execute(_DELETE_PLACEHOLDER, placeholder)
    if cursor.rowcount != 1:
        return False
    if instance_rows:
        await writer.executemany(_INSERT_INSTANCE, instance_rows)
    return True
