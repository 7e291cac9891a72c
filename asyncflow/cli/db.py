"""``asyncflow db ...``: create, migrate or reset the store (SQLite or PostgreSQL)."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import click

from asyncflow.cli.access import database_file, owning_store
from asyncflow.cli.common import BadInput, CliConfig, common_options, config_for
from asyncflow.storage import mask_url, open_store


@click.group()
@common_options
def db() -> None:
    """Manage the database (the store of runs, task instances and XCom)."""


@db.command("init")
@common_options
@click.pass_context
def init_db(ctx: click.Context) -> None:
    """Create the database, or bring its schema up to date; safe to run again.

    \b
    Example:
        $ asyncflow db init --database-url sqlite:////srv/asyncflow/asyncflow.db
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    _migrate(config)
    click.echo(f"Database ready: {mask_url(config.database_url)}")


@db.command("upgrade")
@common_options
@click.pass_context
def upgrade_db(ctx: click.Context) -> None:
    """Apply the schema migrations the database has not had yet, and say which.

    Safe while engines run: a migration applies in one transaction, once.

    \b
    Example:
        $ asyncflow db upgrade --database-url postgresql://flow@db:5432/flows
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    applied = _migrate(config)
    shown = mask_url(config.database_url)
    if applied:
        click.echo(f"Applied {len(applied)} migration(s) to {shown}: {', '.join(applied)}")
    else:
        click.echo(f"Database up to date: {shown}")


@db.command("reset")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@common_options
@click.pass_context
def reset_db(ctx: click.Context, yes: bool) -> int:
    """Delete the database and all in it (runs, task instances, XCom, pauses), then create it.

    Asks first on a terminal; without one, --yes is required. Refused while
    `asyncflow run` serves the database (on PostgreSQL: while any engine holds
    a live lease). Task log files are kept.

    \b
    Example:
        $ asyncflow db reset --yes
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    shown = mask_url(config.database_url)
    if not yes:
        if not sys.stdin.isatty():
            raise BadInput(f"db reset deletes everything in {shown}: pass --yes to confirm")
        if not click.confirm(f"Delete everything in {shown}?", default=False):
            click.echo("Nothing deleted.", err=True)
            return 1
    with owning_store(config):
        path = database_file(config)
        if path is not None:
            _delete_sqlite(path)
            _migrate(config)
        else:
            _reset_server(config)
    click.echo(f"Database reset: {shown}")
    return 0


def _migrate(config: CliConfig) -> tuple[str, ...]:
    """Open the store (which applies pending migrations) and close it; what it applied."""
    store = open_store(config.database_url, config.settings)

    async def migrate() -> tuple[str, ...]:
        await store.open()
        await store.close()
        return store.applied_migrations

    return anyio.run(migrate)


def _reset_server(config: CliConfig) -> None:
    """Drop and recreate the tables of a store on a database server (refused while in use)."""
    from asyncflow.storage.memory import MemoryStore

    store = open_store(config.database_url, config.settings)
    if isinstance(store, MemoryStore):
        return  # it keeps nothing between commands
    from asyncflow.storage.postgres import PostgresStore  # as lazily as open_store imports it

    assert isinstance(store, PostgresStore)  # the only other kind open_store returns

    async def reset() -> None:
        await store.open()
        try:
            await store.reset()
        finally:
            await store.close()

    anyio.run(reset)


def _delete_sqlite(path: Path) -> None:
    """Delete a SQLite database with its write-ahead log and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
