"""The PostgreSQL server the storage tests run against, one fresh schema per test.

The server is ``ASYNCFLOW_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``, the one CI and every developer
machine run). Each test gets a schema of its own, ``af_<random hex>``, named in
its store URL as the ``search_path`` (and as the ``application_name``, so a
test can find its store's connections), and dropped afterwards: tests never see
each other's rows, and runs by other people on the same server never collide.
Test connections commit with ``synchronous_commit=off``: a commit returns before
its WAL reaches the disk, which only a crash of the server could tell apart, and
the suite runs about twice as fast on a slow disk.

An unreachable server fails the test with a message saying so: these tests
must not pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import parse_qs, urlsplit

import anyio
import asyncpg
import pytest

from asyncflow.storage.postgres.connections import PoolOptions

SERVER_URL = os.environ.get(
    "ASYNCFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
"""The database the PostgreSQL tests create their schemas in."""

TEST_POOL = PoolOptions(min_size=1, max_size=3, first_pause=0.05)
"""A small pool: the server's connections are shared with every other test run."""

_unreachable: list[str] = []  # why the server could not be reached, once per session


async def connect() -> asyncpg.Connection[asyncpg.Record]:
    """A plain connection to the test database, or the test fails saying why there is none."""
    if _unreachable:
        pytest.fail(_unreachable[0], pytrace=False)
    try:
        return await asyncpg.connect(SERVER_URL, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        _unreachable.append(
            f"PostgreSQL is unreachable at {SERVER_URL} ({type(exc).__name__}: {exc}); "
            "the PostgreSQL storage tests need it: start it, or point "
            "ASYNCFLOW_TEST_POSTGRES_URL at one"
        )
        pytest.fail(_unreachable[0], pytrace=False)


def _new_schema() -> tuple[str, str]:
    """A fresh schema name (``af_<random hex>``, never user input) and its store URL."""
    name = f"af_{uuid.uuid4().hex}"
    joiner = "&" if "?" in SERVER_URL else "?"
    settings = f"search_path={name}&application_name={name}&synchronous_commit=off"
    return name, f"{SERVER_URL}{joiner}{settings}"


async def _execute(sql: str) -> None:
    admin = await connect()
    await admin.execute("SET synchronous_commit = off")
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A new, empty schema for the block; yields a store URL whose tables live in it."""
    name, url = _new_schema()
    await _execute(f"CREATE SCHEMA {name}")
    try:
        yield url
    finally:
        await _execute(f"DROP SCHEMA {name} CASCADE")


@contextmanager
def fresh_schema_for_commands() -> Iterator[str]:
    """:func:`fresh_schema` for tests that run commands rather than a loop of their own."""
    name, url = _new_schema()
    anyio.run(_execute, f"CREATE SCHEMA {name}")
    try:
        yield url
    finally:
        anyio.run(_execute, f"DROP SCHEMA {name} CASCADE")


async def terminate_connections(url: str) -> int:
    """Kill, server-side, every connection of the store on ``url``; how many there were."""
    application = parse_qs(urlsplit(url).query)["application_name"][0]
    admin = await connect()
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1",
            application,
        )
    finally:
        await admin.close()
    return int(killed)
