"""Opening a SQLite database: connection settings and numbered migrations.

Migrations are the files ``migrations/NNNN_<what>.sql`` (see
:mod:`asyncflow.storage.sqlfiles`). The schema version is SQLite's
``PRAGMA user_version``: migration N sets it to N in the same transaction as its
statements, so a migration is applied completely or not at all. The check runs
under ``BEGIN IMMEDIATE`` (the write lock), so two processes opening a new file
at once apply each migration once; opening an up-to-date database writes
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from asyncflow.exceptions import StoreError
from asyncflow.storage.sqlfiles import Migration
from asyncflow.storage.sqlite.sqlfiles import MIGRATIONS

BUSY_TIMEOUT_SECONDS = 5.0
"""How long a statement waits for another process's lock before failing."""

_WRITER_PRAGMAS = (
    "PRAGMA journal_mode = WAL",  # readers never block the writer, nor it them
    "PRAGMA synchronous = NORMAL",  # in WAL: durable across a crash of the process
    "PRAGMA foreign_keys = ON",
)
_READER_PRAGMAS = ("PRAGMA query_only = ON",)


async def connect(path: Path, *, reader: bool) -> aiosqlite.Connection:
    """Open a connection in autocommit mode (transactions are explicit) and configure it.

    Args:
        path: the database file.
        reader: ``True`` for the read-only connection, ``False`` for the writer.
    """
    connection = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        for pragma in _READER_PRAGMAS if reader else _WRITER_PRAGMAS:
            await connection.execute(pragma)
    except BaseException:
        await connection.close()
        raise
    return connection


async def schema_version(connection: aiosqlite.Connection) -> int:
    """The database's ``PRAGMA user_version``: the last migration applied."""
    rows = list(await connection.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0])


async def migrate(
    connection: aiosqlite.Connection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[Migration]:
    """Apply the migrations the database has not had yet, in order.

    Args:
        connection: an autocommit connection (``isolation_level=None``).
        migrations: the migrations, ordered by version.

    Returns:
        The migrations applied now, in order (none when the database was up to date).

    Raises:
        StoreError: the database is newer than every migration this version knows.
        sqlite3.Error: a migration failed; the database keeps its previous version.
    """
    latest = migrations[-1].version if migrations else 0
    if await schema_version(connection) == latest:
        return []
    await connection.execute("BEGIN IMMEDIATE")
    try:
        version = await schema_version(connection)
        if version > latest:
            raise StoreError(
                f"the database schema is version {version}, newer than this asyncflow "
                f"knows (up to {latest}); upgrade asyncflow"
            )
        applied = [migration for migration in migrations if migration.version > version]
        for migration in applied:
            for statement in migration.statements:
                await connection.execute(statement)
            # PRAGMA takes no parameters; the version is an int from a file name.
            await connection.execute(f"PRAGMA user_version = {migration.version:d}")
        await connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            await connection.execute("ROLLBACK")
        raise
    return applied
