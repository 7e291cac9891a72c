"""The SQL stores (SQLite and PostgreSQL) as the tests of both make them (imported by name)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

from postgres_server import TEST_POOL, fresh_schema

from asyncflow.storage.postgres import PostgresStore
from asyncflow.storage.sqlite import SqliteStore

SqlStore = SqliteStore | PostgresStore
"""A store on a SQL database."""


class StoreFactory(Protocol):
    """Makes unopened stores of one SQL backend, every one on the same database."""

    def __call__(self, **options: Any) -> SqlStore:
        """A new store object (keywords: the store's own, e.g. ``linger``)."""
        ...


async def store_factory(kind: str, directory: Path, stack: AsyncExitStack) -> StoreFactory:
    """Stores of ``kind`` on one database: a file in ``directory``, or a schema ``stack`` drops."""
    if kind == "postgres":
        url = await stack.enter_async_context(fresh_schema())
        return lambda **options: PostgresStore(url, pool=TEST_POOL, **options)
    return lambda **options: SqliteStore(directory / "store.db", **options)
