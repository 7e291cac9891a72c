"""The PostgreSQL store's schema: numbered migrations, applied once per database schema.

Migrations are the files ``migrations/NNNN_<what>.sql``. The table
``asyncflow_migration`` records each one applied (version, file name, when), in
the transaction that applies it, so a migration is applied completely or not at
all. The tables live in the first schema of the connection's ``search_path``
(``public`` unless the URL says ``?search_path=...``). Applying runs under a
transaction-level advisory lock keyed by that schema, so processes opening a
new database at once apply each migration once; opening an up-to-date
database takes no lock and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from asyncflow.exceptions import StoreError
from asyncflow.storage.postgres.connections import Connection
from asyncflow.storage.postgres.sqlfiles import MIGRATIONS, QUERIES
from asyncflow.storage.sqlfiles import Migration

_CURRENT_SCHEMA = QUERIES["current_schema"]
_SEARCH_PATH = QUERIES["search_path"]
_MIGRATION_TABLE_EXISTS = QUERIES["migration_table_exists"]
_LOCK = QUERIES["lock_migrations"]
_CREATE_MIGRATION_TABLE = QUERIES["create_migration_table"]
_SCHEMA_VERSION = QUERIES["schema_version"]
_RECORD_MIGRATION = QUERIES["record_migration"]
_DROP_TABLES = QUERIES["drop_tables"]


async def schema_version(connection: Connection) -> int:
    """The last migration applied to the connection's schema (0 for none)."""
    if not await connection.fetchval(_MIGRATION_TABLE_EXISTS):
        return 0
    return int(await connection.fetchval(_SCHEMA_VERSION))


async def migrate(
    connection: Connection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[Migration]:
    """Apply the migrations the schema has not had yet, in order, in one transaction.

    Returns:
        The migrations applied now (none when the schema was up to date).

    Raises:
        StoreError: the search_path names no schema that exists, or the schema
            is newer than every migration this version knows.
        asyncpg.PostgresError: a migration failed; the schema keeps its previous version.
    """
    latest = migrations[-1].version if migrations else 0
    if await schema_version(connection) == latest:
        return []
    async with connection.transaction():
        schema = await connection.fetchval(_CURRENT_SCHEMA)
        if schema is None:
            path = await connection.fetchval(_SEARCH_PATH)
            raise StoreError(
                f"no schema of the search_path ({path}) exists: create it first "
                "(CREATE SCHEMA ...), or name another with ?search_path= in the URL"
            )
        await connection.execute(_LOCK)
        await connection.execute(_CREATE_MIGRATION_TABLE)
        version = int(await connection.fetchval(_SCHEMA_VERSION))
        if version > latest:
            raise StoreError(
                f"the database schema {schema!r} is version {version}, newer than this "
                f"asyncflow knows (up to {latest}); upgrade asyncflow"
            )
        applied = [migration for migration in migrations if migration.version > version]
        for migration in applied:
            for statement in migration.statements:
                await connection.execute(statement)
            await connection.execute(_RECORD_MIGRATION, migration.version, migration.name)
    return applied


async def drop_tables(connection: Connection) -> None:
    """Drop every table of asyncflow in the connection's schema (their data with them)."""
    await connection.execute(_DROP_TABLES)
