"""``asyncflow run`` and ``asyncflow standalone``: the scheduler and executor as a service.

One process schedules the DAGs of the DAG folder and runs their tasks until
SIGINT or SIGTERM. The first signal stops taking work and lets running tries
finish within ``ASYNCFLOW_SHUTDOWN_GRACE`` seconds (what is still running then
is recorded as interrupted and runs again on the next start); later signals
change nothing, the grace period bounds the stop. DAG files added, changed or
removed are seen without a restart. The process owns its SQLite store: a
second ``asyncflow run`` on it is refused.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

import anyio
import click
from anyio.abc import TaskGroup, TaskStatus
from prometheus_client import CollectorRegistry

from asyncflow.cli.common import (
    BadInput,
    CliConfig,
    common_options,
    config_for,
    leave_stuck_threads,
    load_bag,
)
from asyncflow.cli.metrics_server import MetricsAddress, serving_metrics
from asyncflow.cli.output import print_table
from asyncflow.cli.web_options import require_web_extra, web_options
from asyncflow.dag_loader import DagBag
from asyncflow.engine import Engine, ProcessSetup
from asyncflow.log import get_logger
from asyncflow.storage import mask_url

log = get_logger("asyncflow.cli.serve")


@click.command("run")
@common_options
@click.option(
    "--queues",
    metavar="A,B",
    default=None,
    help="On PostgreSQL: take task instances from these named queues only "
    "(tasks' queue=; default: default).",
)
@click.option(
    "--max-active-tasks",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Task instances this process runs at once, across all DAGs (Airflow's parallelism).",
)
@click.option(
    "--pool",
    "pools",
    metavar="NAME=SLOTS",
    multiple=True,
    callback=lambda _ctx, _param, values: _pools(values),
    help="A pool and its slots, for tasks with pool=NAME (repeat for more). On "
    "PostgreSQL the slots hold across every process: give each the same pools.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="PORT",
    help="Serve Prometheus metrics on http://HOST:PORT/metrics (0: any free port).",
)
@click.option(
    "--metrics-host",
    default=None,
    metavar="HOST",
    help="The address --metrics-port listens on [default: 127.0.0.1].",
)
@click.pass_context
def run_command(
    ctx: click.Context,
    queues: str | None,
    max_active_tasks: int,
    pools: dict[str, int],
    metrics_port: int | None,
    metrics_host: str | None,
) -> None:
    """Schedule and run DAGs until SIGINT or SIGTERM.

    The DAGs are those of the DAG folder, followed as files come, change and
    go. Prints where the home, database, DAG folder and task logs are (and the
    metrics URL), then logs its events on stderr (JSON lines when stderr is not
    a terminal). Exits 0 after a graceful stop; exits 2 when another process
    serves the same SQLite database or the metrics port is in use.

    \b
    Example:
        $ ASYNCFLOW_HOME=/srv/asyncflow asyncflow run --metrics-port 9108
        $ asyncflow run --database-url postgresql://flow@db/flows --queues gpu
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    if metrics_host is not None and metrics_port is None:
        raise BadInput("--metrics-host needs --metrics-port: say which port to serve metrics on")
    names = None
    if queues is not None:
        names = [name.strip() for name in queues.split(",")]
        if not all(names):
            raise click.BadParameter(
                f"{queues!r} names an empty queue; give names separated by commas, e.g. a,b",
                param_hint="--queues",
            )
    options = ServeOptions(queues=names, max_active_tasks=max_active_tasks, pools=pools)
    if metrics_port is not None:
        options.metrics = MetricsAddress(metrics_host or "127.0.0.1", metrics_port)
    serve(config_for(ctx, service=True), "asyncflow run", options)


@click.command("standalone")
@web_options
@common_options
@click.pass_context
def standalone_command(ctx: click.Context, host: str, port: int) -> None:
    """Run the scheduler, the executor and the web UI in one process, on one event loop.

    The web UI drives the engine itself, so waking sensors and marking runs
    failed work from it too. Unlike `run`, it creates the DAG folder and the
    database when they are missing.

    \b
    Example:
        $ asyncflow standalone --port 8080
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    require_web_extra()
    config = config_for(ctx, service=True)
    config.dags_folder.mkdir(parents=True, exist_ok=True)
    serve(config, "asyncflow standalone", ServeOptions(web=(host, port)))


def _pools(values: tuple[str, ...]) -> dict[str, int]:
    """``--pool NAME=SLOTS`` options as a mapping."""
    pools: dict[str, int] = {}
    for value in values:
        name, _, slots = value.partition("=")
        if not name or not slots.isdigit() or int(slots) < 1:
            raise click.BadParameter(
                f"{value!r} is not NAME=SLOTS with SLOTS a positive whole number, e.g. db=10",
                param_hint="--pool",
            )
        pools[name] = int(slots)
    return pools


@dataclass(slots=True, kw_only=True)
class ServeOptions:
    """How ``asyncflow run`` serves: its queues, slots, pools and metrics address.

    ``web`` (``asyncflow standalone``): the host and port of the web UI served
    from the engine's own process.
    """

    queues: list[str] | None = None
    max_active_tasks: int = 1024
    pools: dict[str, int] = field(default_factory=dict)
    metrics: MetricsAddress | None = None
    web: tuple[str, int] | None = None


def serve(config: CliConfig, command: str, options: ServeOptions | None = None) -> None:
    """Own the store, load the DAG folder and serve until a signal stops it.

    With ``metrics``, the engine's Prometheus metrics are served there meanwhile.

    Raises:
        BadInput: the DAG folder is missing, or the metrics address cannot be listened on.
        StoreInUse: another engine owns the store.
    """
    bag = load_bag(config)
    options = options or ServeOptions()
    registry = CollectorRegistry()  # the engine's own, served before the loop starts
    with serving_metrics(registry, options.metrics) as url:
        anyio.run(_serve, config, bag, command, options, registry, url)
    leave_stuck_threads(exit_code=0)


async def _serve(
    config: CliConfig,
    bag: DagBag,
    command: str,
    options: ServeOptions,
    registry: CollectorRegistry,
    metrics_url: str | None,
) -> None:
    # imported here: every other command starts faster without watchfiles
    from asyncflow.cli.watch import DagFolderWatch

    stop = anyio.Event()
    async with anyio.create_task_group() as outer:
        await outer.start(wait_for_signals, stop, config.settings.shutdown_grace_seconds)
        async with Engine(
            config.database_url,
            dags=bag.dags.values(),
            max_active_tasks=options.max_active_tasks,
            pools=options.pools,
            settings=config.settings,
            process=ProcessSetup.everything(),  # this process is asyncflow's own
            queues=options.queues,
            metrics=registry,
        ) as engine:
            _print_locations(config, bag, command, metrics_url)  # once it owns the store
            watch = DagFolderWatch(engine, config.dags_folder.absolute(), bag)
            async with anyio.create_task_group() as work:
                work.start_soon(engine.serve, name="asyncflow-scheduler")
                work.start_soon(watch.run, name="asyncflow-dag-folder-watch")
                if options.web is not None:
                    await _start_web(work, engine, options.web, stop)
                log.info("serving", dags=len(engine.dags), owner=engine.owner)
                await stop.wait()
                watch.stop()
                work.cancel_scope.cancel()
            log.info("shutting_down", grace_seconds=config.settings.shutdown_grace_seconds)
        outer.cancel_scope.cancel()


async def _start_web(
    group: TaskGroup, engine: Engine, where: tuple[str, int], stop: anyio.Event
) -> None:
    """Serve the engine's web app in its task group until ``stop``."""
    from asyncflow.web import asgi_app
    from asyncflow.web.server import serve_app

    host, port = where
    bound = await group.start(serve_app, asgi_app(engine), host, port, stop)
    click.echo(f"web UI and API: http://{host}:{bound}/")


async def wait_for_signals(
    stop: anyio.Event,
    grace: float,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """The first SIGINT/SIGTERM asks for a graceful stop; later ones only say it is under way.

    The grace period bounds the stop; cancelling the engine's exit instead would
    leave its store half-closed.
    """
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if not stop.is_set():
                log.info("shutdown_requested", signal=name)
                stop.set()
            else:
                log.warning("shutdown_under_way", signal=name, grace_seconds=grace)


def _print_locations(config: CliConfig, bag: DagBag, command: str, metrics_url: str | None) -> None:
    dags = f"{len(bag.dags)} DAG{'' if len(bag.dags) == 1 else 's'}"
    failed = len(bag.errors)
    errors = f", {failed} file{'' if failed == 1 else 's'} failed to import" if failed else ""
    click.echo(f"{command}: scheduler and executor; stop with Ctrl-C or SIGTERM")
    print_table(
        [
            ["home", str(config.settings.home)],
            ["database", mask_url(config.database_url)],
            ["DAG folder", f"{config.dags_folder} ({dags}{errors})"],
            ["task logs", str(config.settings.task_logs_folder)],
            *([["metrics", metrics_url]] if metrics_url else []),
        ]
    )
