"""``asyncflow web``: the web UI and REST API in a process of their own, beside ``asyncflow run``.

The process owns nothing: it reads the store, and what it asks (a trigger, a
pause) is written through the store for the engine serving it to pick up, as
``asyncflow dags trigger`` does. ``asyncflow standalone`` serves the same app
from the engine's own process instead.
"""

from __future__ import annotations

import click

from asyncflow.cli.common import CliConfig, common_options, config_for, load_bag
from asyncflow.cli.web_options import require_web_extra, web_options


@click.command("web")
@web_options
@common_options
@click.pass_context
def web_command(ctx: click.Context, host: str, port: int) -> None:
    """Serve the web UI and REST API beside `asyncflow run`, until Ctrl-C or SIGTERM.

    Reads the database of `asyncflow run`; triggers and pauses are stored for
    it to pick up. Waking sensors and marking runs failed need the engine's own
    process (`asyncflow standalone`). Log in as a user of `asyncflow users create`.

    \b
    Example:
        $ asyncflow web --port 8080
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    require_web_extra()
    config = config_for(ctx, service=True)
    import anyio

    anyio.run(_serve_web, config, host, port)


async def _serve_web(config: CliConfig, host: str, port: int) -> None:
    import anyio

    from asyncflow.cli.access import reading_store
    from asyncflow.cli.serve import wait_for_signals
    from asyncflow.web.app import context_for, create_app
    from asyncflow.web.server import serve_app

    bag = load_bag(config)
    async with reading_store(config) as store:
        context = context_for(store, bag.dags, bag.errors, config.settings.task_logs_folder)
        stop = anyio.Event()
        async with anyio.create_task_group() as group:
            await group.start(wait_for_signals, stop, 0.0)
            async with anyio.create_task_group() as web:  # ends once the server has stopped
                bound = await web.start(serve_app, create_app(context), host, port, stop)
                click.echo(f"asyncflow web: http://{host}:{bound}/ (stop with Ctrl-C or SIGTERM)")
                _print_locations(config, len(bag.dags), len(bag.errors))
            group.cancel_scope.cancel()


def _print_locations(config: CliConfig, dags: int, failed: int) -> None:
    from asyncflow.cli.output import print_table
    from asyncflow.storage import mask_url

    errors = f", {failed} failed to import" if failed else ""
    print_table(
        [
            ["database", mask_url(config.database_url)],
            ["DAG folder", f"{config.dags_folder} ({dags} DAGs{errors})"],
            ["task logs", str(config.settings.task_logs_folder)],
        ]
    )
