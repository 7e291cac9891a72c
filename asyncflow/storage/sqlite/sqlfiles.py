"""The SQLite store's SQL: ``queries.sql`` and ``migrations/`` of this package.

Loaded once at import by :mod:`asyncflow.storage.sqlfiles`; a migration is split
into statements here because the SQLite driver runs one statement per call.
"""

from __future__ import annotations

import sqlite3

from asyncflow.storage.sqlfiles import Migration, load_migrations, load_queries, strip_comments


def split_statements(text: str) -> tuple[str, ...]:
    """Split a SQL script into complete statements, respecting quotes and comments.

    Raises:
        ValueError: the script ends with an incomplete statement.
    """
    statements: list[str] = []
    buffer = ""
    for line in text.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if strip_comments(buffer):
        raise ValueError(f"incomplete SQL statement at the end: {buffer.strip()[:60]!r}")
    return tuple(statements)


QUERIES: dict[str, str] = load_queries(__package__)
"""The named statements of ``queries.sql``, parsed once at import."""

MIGRATIONS: tuple[Migration, ...] = load_migrations(__package__, split_statements)
"""The schema migrations, in the order they are applied."""
