"""``asyncflow tasks ...``: the task instances of a run, and one task run on its own."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import click

from asyncflow.cli.access import reading_store
from asyncflow.cli.common import (
    BadInput,
    CliConfig,
    CliState,
    common_options,
    config_for,
    drop_log_events,
    find_dag,
    load_bag,
    logical_date_option,
    parse_logical_date,
)
from asyncflow.cli.instances import require_run
from asyncflow.cli.output import in_flow_order, iso, output_option, print_json, print_table, ti_row
from asyncflow.cli.run_changes import clear_tasks, set_task_state
from asyncflow.cli.task_test import CannotTest, TaskTestResult, run_task_once
from asyncflow.cli.xcom import XComValues, by_instance, xcom
from asyncflow.dag import DAG
from asyncflow.dag_loader import load_dags
from asyncflow.results import DagRunResult, TaskInstanceResult
from asyncflow.states import TaskState


@click.group()
@common_options
def tasks() -> None:
    """Look at task instances and their XCom values; run one task on its own."""


tasks.add_command(xcom)
tasks.add_command(clear_tasks)
tasks.add_command(set_task_state)


@tasks.command("states")
@click.argument("dag_id")
@click.argument("run_id")
@output_option
@common_options
@click.pass_context
def task_states(ctx: click.Context, dag_id: str, run_id: str, output: str) -> None:
    """Print one line per task instance of run RUN_ID of DAG_ID: its id, state and try.

    Lines follow the graph (upstream tasks first) while the DAG's file loads;
    a mapped instance shows as `task_id[map_index]`. With `-o json` each
    instance also has its XCom values by key (`"xcom": {"return_value": ...}`).

    \b
    Example:
        $ asyncflow tasks states etl scheduled__2026-01-31T00:00:00.000000+00:00
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    result, xcoms = anyio.run(read_run, config, dag_id, run_id)
    instances = in_flow_order(result.task_instances, _dag_if_loadable(config, dag_id))
    if output == "json":
        print_json([_as_json(ti, xcoms.get((ti.task_id, ti.map_index), {})) for ti in instances])
    else:
        print_table([ti_row(ti) for ti in instances])


@tasks.command("test")
@click.argument("dag_id")
@click.argument("task_id")
@logical_date_option
@click.option(
    "--map-index",
    type=click.IntRange(min=0),
    metavar="I",
    help="The instance of a task mapped over literal values to run.",
)
@common_options
@click.pass_context
def test_task(
    ctx: click.Context,
    dag_id: str,
    task_id: str,
    logical_date: str | None,
    map_index: int | None,
) -> int:
    """Run task TASK_ID of DAG_ID once, in this process, ignoring its upstream tasks.

    Records nothing (no run, no XCom, no log file): the task's output goes to the
    terminal, and the last line is its return value. Results it takes from
    upstream tasks are `None`. Exits 0 when the task succeeded (or skipped
    itself), 1 when it failed, with its error on one line.

    \b
    Example:
        $ asyncflow tasks test etl transform --logical-date 2026-01-31
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    when = parse_logical_date(logical_date) or datetime.now(UTC)
    config = config_for(ctx)
    dag = find_dag(load_bag(config), dag_id, config.dags_folder.absolute())
    if not dag.has_task(task_id):
        known = ", ".join(sorted(dag.task_dict)) or "none"
        raise BadInput(f"DAG {dag_id!r} has no task {task_id!r}; its tasks: {known}")
    task = dag.get_task(task_id)
    if not ctx.ensure_object(CliState).verbose:
        drop_log_events("task_failed")  # its error is this command's last line

    async def run() -> TaskTestResult:
        return await run_task_once(
            task,
            logical_date=when,
            settings=config.settings,
            map_index=-1 if map_index is None else map_index,
        )

    try:
        result = anyio.run(run)
    except CannotTest as error:
        raise BadInput(str(error)) from None
    if result.state is TaskState.FAILED:
        raise click.ClickException(f"task {task_id!r} failed: {result.error}")
    click.echo(f"Task {dag_id}.{task_id}: {result.state}")
    click.echo(f"Returned value was: {result.return_value!r}")
    return 0


async def read_run(
    config: CliConfig, dag_id: str, run_id: str
) -> tuple[DagRunResult, dict[tuple[str, int], XComValues]]:
    """The run ``run_id`` of ``dag_id`` with its task instances, and their XCom values.

    Raises:
        BadInput: the database has no such run.
    """
    async with reading_store(config) as store:
        record = await require_run(store, dag_id, run_id)
        xcoms = await store.get_run_xcoms(dag_id, run_id)
        result = DagRunResult.build(record, await store.get_task_instances(dag_id, run_id), xcoms)
    return result, by_instance(xcoms)


def _dag_if_loadable(config: CliConfig, dag_id: str) -> DAG | None:
    try:
        return load_dags(config.dags_folder).dags.get(dag_id)
    except OSError:
        return None  # the folder is gone; the store's order will do


def _as_json(ti: TaskInstanceResult, xcoms: XComValues) -> dict[str, object]:
    return {
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "state": None if ti.state is None else str(ti.state),
        "try_number": ti.try_number,
        "start_date": iso(ti.start_date),
        "end_date": iso(ti.end_date),
        "error": ti.error,
        "xcom": xcoms,
    }
