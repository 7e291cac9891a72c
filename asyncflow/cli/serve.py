"""``asyncflow run`` and ``asyncflow standalone``: the scheduler and executor as a service.

One process schedules the DAGs of the DAG folder and runs their tasks until
SIGINT or SIGTERM. The first signal stops taking work and lets running tries
finish within ``ASYNCFLOW_SHUTDOWN_GRACE`` seconds (what is still running then
is recorded as interrupted and runs again on the next start); a second signal
stops at once. DAG files added, changed or removed are seen without a restart.
The process owns its SQLite store: a second ``asyncflow run`` on it is refused.
"""

from __future__ import annotations

import signal

import anyio
import click
import structlog
from anyio.abc import TaskStatus

from asyncflow.cli.access import owning_store
from asyncflow.cli.common import common_options, load_bag, settings_for
from asyncflow.cli.output import print_table
from asyncflow.dag_loader import DagBag
from asyncflow.engine import Engine
from asyncflow.settings import Settings
from asyncflow.storage import mask_url

log = structlog.get_logger("asyncflow.cli.serve")


@click.command("run")
@common_options
@click.pass_context
def run_command(ctx: click.Context) -> None:
    """Schedule and run DAGs until SIGINT or SIGTERM.

    The DAGs are those of the DAG folder, followed as files come, change and
    go. Prints where the home, database, DAG folder and task logs are, then logs
    its events on stderr (JSON lines when stderr is not a terminal). Exits 0
    after a graceful stop; exits 2 when another process serves the same SQLite
    database.

    \b
    Example:
        $ ASYNCFLOW_HOME=/srv/asyncflow asyncflow run
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    serve(settings_for(ctx, service=True), "asyncflow run")


@click.command("standalone")
@common_options
@click.pass_context
def standalone_command(ctx: click.Context) -> None:
    """Run everything in one process (for now: the same as run).

    The web UI comes later. Unlike `run`, it creates the DAG folder when it is
    missing.
    """
    settings = settings_for(ctx, service=True)
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    serve(settings, "asyncflow standalone")


def serve(settings: Settings, command: str) -> None:
    """Own the store, load the DAG folder and serve until a signal stops it.

    Raises:
        BadInput: another process owns the store, or the DAG folder is missing.
    """
    with owning_store(settings, command):
        bag = load_bag(settings)
        anyio.run(_serve, settings, bag, command)


async def _serve(settings: Settings, bag: DagBag, command: str) -> None:
    # imported here: every other command starts faster without watchfiles
    from asyncflow.cli.watch import DagFolderWatch, follow_pauses

    stop = anyio.Event()
    async with anyio.create_task_group() as outer:
        await outer.start(_wait_for_signals, stop, outer.cancel_scope)
        _print_locations(settings, bag, command)
        async with Engine(
            settings.database_url, dags=bag.dags.values(), settings=settings
        ) as engine:
            watch = DagFolderWatch(engine, settings.dags_folder.absolute(), bag)
            async with anyio.create_task_group() as work:
                work.start_soon(engine.serve, name="asyncflow-scheduler")
                work.start_soon(watch.run, name="asyncflow-dag-folder-watch")
                work.start_soon(follow_pauses, engine, name="asyncflow-pauses")
                log.info("serving", dags=len(engine.dags), owner=engine.owner)
                await stop.wait()
                watch.stop()
                work.cancel_scope.cancel()
            log.info("shutting_down", grace_seconds=settings.shutdown_grace_seconds)
        outer.cancel_scope.cancel()


async def _wait_for_signals(
    stop: anyio.Event,
    everything: anyio.CancelScope,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """The first SIGINT/SIGTERM asks for a graceful stop; a second one stops at once."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if not stop.is_set():
                log.info("shutdown_requested", signal=name)
                stop.set()
            else:
                log.warning("shutdown_forced", signal=name)
                everything.cancel()


def _print_locations(settings: Settings, bag: DagBag, command: str) -> None:
    errors = f", {len(bag.errors)} import errors" if bag.errors else ""
    click.echo(f"{command}: scheduler and executor; stop with Ctrl-C or SIGTERM")
    print_table(
        [
            ["home", str(settings.home)],
            ["database", mask_url(settings.database_url)],
            ["DAG folder", f"{settings.dags_folder} ({len(bag.dags)} DAGs{errors})"],
            ["task logs", str(settings.task_logs_folder)],
        ]
    )
