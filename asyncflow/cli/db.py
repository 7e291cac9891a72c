"""``asyncflow db ...``: create or migrate the store."""

from __future__ import annotations

import anyio
import click

from asyncflow.cli.common import common_options, settings_for
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
    settings = settings_for(ctx)
    store = open_store(settings.database_url)

    async def migrate() -> None:
        await store.open()
        await store.close()

    anyio.run(migrate)
    click.echo(f"Database ready: {mask_url(settings.database_url)}")
