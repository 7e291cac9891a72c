"""Fixtures for the storage tests: every backend, opened, and record builders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from postgres_server import TEST_POOL, fresh_schema
from sql_backends import SqlStore, StoreFactory, store_factory

from asyncflow.storage.memory import MemoryStore
from asyncflow.storage.postgres import PostgresStore
from asyncflow.storage.protocol import Store
from asyncflow.storage.sqlite import SqliteStore

SINGLE_OWNER = ("memory", "sqlite")
"""Backends one engine owns at a time: a second one is refused (StoreInUse)."""

SHARED = ("postgres",)
"""Backends any number of engines share, each holding a lease."""


@pytest.fixture
def anyio_backend() -> str:
    """Storage tests run on asyncio, the loop aiosqlite and the engine use."""
    return "asyncio"


async def make_store(kind: str, directory: Path, stack: AsyncExitStack) -> Store:
    """A new, unopened store of the given kind; a PostgreSQL one in a schema ``stack`` drops."""
    if kind == "memory":
        return MemoryStore()
    return (await store_factory(kind, directory, stack))()


async def opened_store(kind: str, directory: Path) -> AsyncIterator[Store]:
    """An opened store of the given kind, closed (and its schema dropped) afterwards."""
    async with AsyncExitStack() as stack:
        opened = await make_store(kind, directory, stack)
        await opened.open()
        try:
            yield opened
        finally:
            await opened.close()


@pytest.fixture(params=[*SINGLE_OWNER, *SHARED])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An opened store of each backend: SQLite on a file in tmp_path, PostgreSQL in a schema."""
    async for opened in opened_store(request.param, tmp_path):
        yield opened


@pytest.fixture(params=SINGLE_OWNER)
async def single_owner_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Store]:
    """An opened store of each backend that one engine owns at a time."""
    async for opened in opened_store(request.param, tmp_path):
        yield opened


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of a store in a fresh schema of the test server, dropped afterwards."""
    async with fresh_schema() as url:
        yield url


@pytest.fixture
async def postgres_store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    """An opened PostgreSQL store in a fresh schema."""
    opened = PostgresStore(postgres_url, pool=TEST_POOL)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """An opened SQLite store on a real file in tmp_path."""
    opened = SqliteStore(tmp_path / "store.db")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def sql_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """A maker of unopened stores of each SQL backend, all on one database."""
    async with AsyncExitStack() as stack:
        yield await store_factory(request.param, tmp_path, stack)


@pytest.fixture
async def sql_store(sql_stores: StoreFactory) -> AsyncIterator[SqlStore]:
    """An opened store of each SQL backend."""
    opened = sql_stores()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
