"""The SQLite store's write operations, and how a batch of them is applied.

A write call becomes one :class:`Op`: either rows for a fixed sequence of
statements (its *shape*), which consecutive operations of the same shape share
in one ``executemany`` per statement, or a function of its own for an
operation whose caller needs a result (a row count). :func:`apply_ops` applies
a batch inside the transaction the store opened; an exception it raises is the
fault of the operations it names, and the store isolates the one at fault by
splitting the batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiosqlite

from asyncflow.exceptions import DagRunNotFound, StoreError
from asyncflow.storage import checks
from asyncflow.storage.sqlite.codec import Row
from asyncflow.storage.sqlite.sqlfiles import QUERIES

_INSERT_RUN = QUERIES["insert_run"]
_UPDATE_RUN = QUERIES["update_run"]
_INSERT_INSTANCE = QUERIES["insert_task_instance"]
_DELETE_RUN_XCOMS = QUERIES["delete_run_xcoms"]

Apply = Callable[[aiosqlite.Connection], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Op:
    """One write call, encoded: either statements to merge or a function to run."""

    name: str  # the Store method, for error messages
    shape: tuple[str, ...] = ()  # the statements, in order; same shape -> mergeable
    rows: tuple[list[Row], ...] = ()  # the rows for each statement of the shape
    apply: Apply | None = None  # an operation that needs its own result (rowcount)
    exact: bool = False  # each row of the first statement must change one stored row


async def apply_ops(writer: aiosqlite.Connection, ops: list[Op]) -> list[object]:
    """Apply operations in order, merging runs of the same shape into executemany calls.

    Returns:
        Each operation's result, in order (``None`` for merged ones).

    Raises:
        StoreError: an ``exact`` operation matched no stored row.
        sqlite3.Error: a statement failed.
    """
    results: list[object] = []
    start = 0
    while start < len(ops):
        op = ops[start]
        if op.apply is not None:
            results.append(await op.apply(writer))
            start += 1
            continue
        end = start + 1
        while end < len(ops) and ops[end].apply is None and ops[end].shape == op.shape:
            end += 1
        for index, sql in enumerate(op.shape):
            rows = [row for other in ops[start:end] for row in other.rows[index]]
            if rows:
                cursor = await writer.executemany(sql, rows)
                if op.exact and index == 0 and cursor.rowcount != len(rows):
                    raise _missing(ops[start:end])
        results.extend([None] * (end - start))
        start = end
    return results


def _missing(ops: list[Op]) -> StoreError:
    """The error of ``exact`` operations of which at least one matched no stored row."""
    if len(ops) > 1:  # the batch is split until the operation at fault stands alone
        return StoreError(f"{ops[0].name}: one of {len(ops)} task instances is not stored")
    [row] = ops[0].rows[0]
    return checks.missing_instance(ops[0].name, row[-4:])


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


async def update_run(row: Row, writer: aiosqlite.Connection) -> None:
    """Update a run's state and dates.

    Raises:
        DagRunNotFound: no run has the row's ``(dag_id, run_id)``.
    """
    cursor = await writer.execute(_UPDATE_RUN, row)
    if cursor.rowcount == 0:
        dag_id, run_id = row[-2:]
        raise DagRunNotFound(f"update_run: no run {dag_id}/{run_id}")
