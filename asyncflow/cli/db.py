"""``asyncflow db ...``: create, migrate or reset the store."""

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
    _init(config)
    click.echo(f"Database ready: {mask_url(config.database_url)}")


@db.command("reset")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@common_options
@click.pass_context
def reset_db(ctx: click.Context, yes: bool) -> int:
    """Delete the database and all in it (runs, task instances, XCom, pauses), then create it.

    Asks first on a terminal; without one, --yes is required. Refused while
    `asyncflow run` serves the database. Task log files are kept.

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
        _init(config)
    click.echo(f"Database reset: {shown}")
    return 0


def _init(config: CliConfig) -> None:
    store = open_store(config.database_url)

    async def migrate() -> None:
        await store.open()
        await store.close()

    anyio.run(migrate)


def _delete_sqlite(path: Path) -> None:
    """Delete a SQLite database with its write-ahead log and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
