"""Fixtures for the storage tests: every backend, opened, and record builders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncflow.storage.memory import MemoryStore
from asyncflow.storage.protocol import Store
from asyncflow.storage.sqlite import SqliteStore


@pytest.fixture
def anyio_backend() -> str:
    """Storage tests run on asyncio, the loop aiosqlite and the engine use."""
    return "asyncio"


def make_store(kind: str, directory: Path) -> Store:
    """A new, unopened store of the given kind (``memory`` or ``sqlite``)."""
    if kind == "memory":
        return MemoryStore()
    return SqliteStore(directory / "store.db")


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An opened store of each backend; the SQLite one on a real file in tmp_path."""
    opened = make_store(request.param, tmp_path)
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
