"""``asyncflow dags ...``: list, test, trigger, pause and backfill the DAGs of the DAG folder."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
import click

from asyncflow.cli.access import open_engine, paused_dag_ids, reading_store
from asyncflow.cli.backfill import backfill
from asyncflow.cli.common import (
    BadInput,
    CliConfig,
    common_options,
    config_for,
    drop_log_events,
    find_dag,
    leave_stuck_threads,
    load_bag,
    logical_date_option,
    parse_conf,
    parse_logical_date,
    shown_path,
)
from asyncflow.cli.dag_show import show
from asyncflow.cli.output import in_flow_order, output_option, print_json, print_table, ti_row
from asyncflow.dag import DAG
from asyncflow.dag_loader import DagBag
from asyncflow.engine import Engine
from asyncflow.engine.new_runs import manual_run, queue_manual_run
from asyncflow.results import DagRunResult
from asyncflow.schedule import describe_schedule
from asyncflow.states import DagRunState
from asyncflow.storage.protocol import Store

SIGINT_EXIT = 130
"""Exit code after Ctrl-C (128 + SIGINT), as shells report it."""

_CONF_HELP = "Run configuration, a JSON object: '{\"day\": 3}'."


@click.group()
@common_options
def dags() -> None:
    """List, show, test, trigger, pause and backfill DAGs."""


dags.add_command(backfill)
dags.add_command(show)


@dags.command("list")
@output_option
@common_options
@click.pass_context
def list_dags(ctx: click.Context, output: str) -> None:
    """List the DAGs of the DAG folder, then the files that failed to import.

    The `paused` column comes from the database (`no` when there is none
    yet). Import errors do not change the exit code (0): the other DAGs still load.

    \b
    Example:
        $ asyncflow dags list --output json
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    bag = load_bag(config)
    paused = anyio.run(paused_dag_ids, config)
    folder = config.dags_folder.absolute()
    if output == "json":
        print_json(_as_json(bag, paused))
        return
    rows = [
        [
            d.dag_id,
            describe_schedule(d.schedule),
            "yes" if d.dag_id in paused else "no",
            str(len(d.task_dict)),
            shown_path(d.fileloc, folder),
            d.description or "",
        ]
        for d in sorted(bag.dags.values(), key=lambda d: d.dag_id)
    ]
    if rows:
        print_table(rows, header=["dag_id", "schedule", "paused", "tasks", "file", "description"])
    else:
        click.echo(f"No DAGs in {folder}")
    if bag.errors:
        click.echo()
        click.echo(f"Import errors ({len(bag.errors)}):")
        for file, error in bag.errors.items():
            shown = shown_path(file, folder)
            click.echo(error if error.startswith(f'File "{shown}"') else f"{shown}: {error}")


@dags.command("test")
@click.argument("dag_id")
@click.option("--conf", metavar="JSON", help=_CONF_HELP)
@logical_date_option
@common_options
@click.pass_context
def test_dag(ctx: click.Context, dag_id: str, conf: str | None, logical_date: str | None) -> int:
    """Run one run of DAG_ID to the end, in this process, recorded in the database.

    Prints one line per task instance, then the run's state. Exits 0 when the
    run succeeded, 1 when it failed, 2 on a bad argument. It owns the store
    while it runs, so it is refused while `asyncflow run` serves a SQLite store
    (queue the run there with `asyncflow dags trigger` instead). Ctrl-C marks
    the run failed (nothing would resume a test run): its running tasks fail,
    the tasks not yet run are skipped; it exits 130.

    \b
    Example:
        $ asyncflow dags test etl --conf '{"day": "2026-01-31"}'
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    run_conf = parse_conf(conf)
    when = parse_logical_date(logical_date)
    config = config_for(ctx)
    dag = find_dag(load_bag(config), dag_id, config.dags_folder.absolute())
    # an interruption is reported below, in one line: its failed run and the end of
    # a sync task's thread (its try failed already) go without saying
    drop_log_events("dag_run_marked_failed", "threads_left_running")
    result, interrupted = anyio.run(_test_run, config, dag, run_conf, when)
    if interrupted:
        click.echo(
            f"Interrupted by Ctrl-C: run {result.run_id} of {result.dag_id} marked failed "
            "(its running tasks failed, the tasks not yet run skipped)",
            err=True,
        )
        leave_stuck_threads(exit_code=SIGINT_EXIT)
        return SIGINT_EXIT
    print_table([ti_row(ti) for ti in in_flow_order(result.task_instances, dag)])
    click.echo(f"DAG run {result.run_id} of {result.dag_id}: {result.state}")
    return 0 if result.state == DagRunState.SUCCESS else 1


async def _test_run(
    config: CliConfig, dag: DAG, conf: dict[str, Any] | None, when: datetime | None
) -> tuple[DagRunResult, bool]:
    """Run one run of ``dag`` to its end, or mark it failed on SIGINT.

    Returns the run (as it ended, or as it was triggered when interrupted) and
    whether SIGINT interrupted it. Signals are taken until the engine has
    closed, so a second Ctrl-C cannot cut short the recording of the first.
    """
    with anyio.open_signal_receiver(signal.SIGINT) as signals:
        async with open_engine(config, create=True) as engine:
            engine.add_dag(dag)
            await _refuse_existing_run(engine.store, dag, when)
            started = await engine.trigger(dag.dag_id, conf=conf, logical_date=when)
            finished = await _wait_unless_signalled(engine, started, signals)
            if finished is not None:
                return finished, False
            reason = "interrupted by Ctrl-C in `asyncflow dags test`"
            if await engine.mark_failed(started, reason):
                return started, True
            return await engine.wait(started), False  # it had just finished


async def _wait_unless_signalled(
    engine: Engine, run: DagRunResult, signals: AsyncIterator[int]
) -> DagRunResult | None:
    """The finished run, or ``None`` when a signal came first."""
    finished: DagRunResult | None = None
    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            async for _ in signals:
                tg.cancel_scope.cancel()
                return

        tg.start_soon(stop_on_signal)
        finished = await engine.wait(run)
        tg.cancel_scope.cancel()
    return finished


@dags.command("trigger")
@click.argument("dag_id")
@click.option("--conf", metavar="JSON", help=_CONF_HELP)
@logical_date_option
@common_options
@click.pass_context
def trigger_dag(
    ctx: click.Context, dag_id: str, conf: str | None, logical_date: str | None
) -> None:
    """Queue a manual run of DAG_ID for `asyncflow run` to run, and print its run id.

    The run is stored as `queued`; the `asyncflow run` serving this database
    starts it within seconds (or when it next starts).

    \b
    Example:
        $ asyncflow dags trigger etl --conf '{"day": "2026-01-31"}'
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    run_conf = parse_conf(conf)
    when = parse_logical_date(logical_date)
    config = config_for(ctx)
    dag = find_dag(load_bag(config), dag_id, config.dags_folder.absolute())

    async def queue() -> DagRunResult:
        async with reading_store(config) as store:
            await _refuse_existing_run(store, dag, when)
            now = datetime.now(UTC)
            queued = await queue_manual_run(store, dag, run_conf, when, now)
            assert queued is not None  # refused above when it existed
            return queued

    result = anyio.run(queue)
    click.echo(
        f"Queued run {result.run_id} of {result.dag_id}; `asyncflow run` on this database "
        "will run it."
    )


@dags.command("pause")
@click.argument("dag_id")
@common_options
@click.pass_context
def pause_dag(ctx: click.Context, dag_id: str) -> None:
    """Stop DAG_ID's schedule from creating runs (remembered by the database).

    Runs already created carry on; `asyncflow run` sees the change within seconds.
    """
    _set_paused(ctx, dag_id, paused=True)


@dags.command("unpause")
@click.argument("dag_id")
@common_options
@click.pass_context
def unpause_dag(ctx: click.Context, dag_id: str) -> None:
    """Let DAG_ID's schedule create runs again, from where its schedule stands."""
    _set_paused(ctx, dag_id, paused=False)


def _set_paused(ctx: click.Context, dag_id: str, *, paused: bool) -> None:
    config = config_for(ctx)
    dag = find_dag(load_bag(config), dag_id, config.dags_folder.absolute())

    async def apply() -> bool:
        async with reading_store(config) as store:
            was = dag.dag_id in await store.get_paused_dag_ids()
            await store.set_dag_paused(dag.dag_id, paused)
            return was

    was_paused = anyio.run(apply)
    word = "paused" if paused else "unpaused"
    if was_paused == paused:
        click.echo(f"DAG {dag_id} was already {word}.")
    else:
        click.echo(f"DAG {dag_id} {word}.")


async def _refuse_existing_run(store: Store, dag: DAG, when: datetime | None) -> None:
    """Fail when the manual run at ``when`` exists: creating it again would only return it."""
    if when is None:
        return
    run_id = manual_run(dag, None, when, now=when).run_id
    if await store.get_run(dag.dag_id, run_id) is None:
        return
    raise BadInput(
        f"DAG {dag.dag_id!r} already has run {run_id!r} in the database; "
        "pass another --logical-date"
    )


def _as_json(bag: DagBag, paused: set[str]) -> Mapping[str, Any]:
    return {
        "dags": [
            {
                "dag_id": d.dag_id,
                "schedule": describe_schedule(d.schedule),
                "paused": d.dag_id in paused,
                "tasks": len(d.task_dict),
                "file": d.fileloc,
                "description": d.description,
                "doc_md": d.doc_md,
                "tags": list(d.tags),
            }
            for d in sorted(bag.dags.values(), key=lambda d: d.dag_id)
        ],
        "import_errors": [{"file": file, "error": error} for file, error in bag.errors.items()],
    }
