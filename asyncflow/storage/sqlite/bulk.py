"""Many rows of one statement in a few statements: the writer thread's GIL waits.

``executemany`` steps the statement once per row, and the sqlite3 module lets
go of the GIL around each step. The writer thread then needs the GIL back once
per row, and while the event loop's thread is busy (a completion storm: a
hundred thousand sensors done together) each of those waits can last the
interpreter's switch interval: a few thousand rows took seconds. The hot
statements of a storm (``finish_try``, ``upsert_xcom``) have a form that takes
many rows at once (``finish_tries``, ``upsert_xcoms`` in ``queries.sql``: the
rows are a ``VALUES`` list), so a batch costs one step per
:data:`ROWS_PER_STATEMENT` rows.

The many-row form applies each row as its one-row statement would, with one
difference the caller handles: a guarded statement's row count says how many
rows applied in all, not which (see :mod:`asyncflow.storage.sqlite.ops`).
"""

from __future__ import annotations

import sqlite3

import aiosqlite

from asyncflow.storage.sqlite.codec import Row
from asyncflow.storage.sqlite.sqlfiles import QUERIES

ROWS_PER_STATEMENT = 512
"""The most rows in one many-row statement: 6,656 parameters for ``finish_tries``
(SQLite allows 32,766 since 3.32). Fewer rows go in statements of a power of
two rows each, so a statement has one of ten texts, which the driver keeps
prepared: about 2 MiB for both statements (at 2,048 rows, 10 MiB, for no
measurable gain)."""

# UPDATE ... FROM needs SQLite 3.33
AVAILABLE = sqlite3.sqlite_version_info >= (3, 33, 0)


class _ManyRows:
    """A one-row statement's many-row form: its text, with the VALUES row repeated."""

    def __init__(self, sql: str, width: int) -> None:
        self.row = "(" + ", ".join("?" * width) + ")"
        head, found, tail = sql.partition("VALUES " + self.row)
        if not found or self.row in tail:  # queries.sql and this module disagree
            raise ValueError(f"no single VALUES row of {width} in {sql[:60]!r}")
        self.head, self.tail = head + "VALUES ", tail
        self._texts: dict[int, str] = {}

    def text(self, rows: int) -> str:
        """The statement for ``rows`` rows (a power of two)."""
        known = self._texts.get(rows)
        if known is None:
            known = self._texts[rows] = self.head + ", ".join([self.row] * rows) + self.tail
        return known


_MANY: dict[str, _ManyRows] = (
    {
        QUERIES["finish_try"]: _ManyRows(QUERIES["finish_tries"], 13),
        QUERIES["upsert_xcom"]: _ManyRows(QUERIES["upsert_xcoms"], 6),
    }
    if AVAILABLE
    else {}
)


async def execute_rows(writer: aiosqlite.Connection, sql: str, rows: list[Row]) -> int:
    """Run ``sql`` once per row (in many-row statements when it has that form); rows changed.

    Raises:
        sqlite3.Error: a statement failed.
    """
    many = _MANY.get(sql)
    if many is None or len(rows) <= 1:
        cursor = await writer.executemany(sql, rows)
        return cursor.rowcount
    changed, start = 0, 0
    while start < len(rows):
        size = min(ROWS_PER_STATEMENT, 1 << ((len(rows) - start).bit_length() - 1))
        params = [value for row in rows[start : start + size] for value in row]
        cursor = await writer.execute(many.text(size), params)
        changed += cursor.rowcount
        start += size
    return changed
