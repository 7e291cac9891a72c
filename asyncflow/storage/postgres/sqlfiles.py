"""The PostgreSQL store's SQL: ``queries.sql`` and ``migrations/`` of this package.

Loaded once at import by :mod:`asyncflow.storage.sqlfiles`. A migration runs
as one script (asyncpg sends a statement without parameters as a simple query,
which may hold many statements), inside the transaction that records it.
"""

from __future__ import annotations

from asyncflow.storage.sqlfiles import Migration, load_migrations, load_queries


def _whole(text: str) -> tuple[str, ...]:
    return (text,)


QUERIES: dict[str, str] = load_queries(__package__)
"""The named statements of ``queries.sql``, parsed once at import."""

MIGRATIONS: tuple[Migration, ...] = load_migrations(__package__, _whole)
"""The schema migrations, in the order they are applied."""
