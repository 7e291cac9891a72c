"""Changing a finished run by hand from the command line, as the web UI's buttons do.

``tasks clear`` and ``tasks set-state`` clear task instances of a finished run,
or set their state, and queue the run again; ``runs mark-success`` and ``runs
delete`` mark or delete a run that is not running. Each *asks* through the
store (see :mod:`asyncflow.cli.access`): it works while ``asyncflow run``
serves the store, which starts the queued run within seconds. A running run
is only ended by the engine driving it, so those are refused with one line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import anyio
import click

from asyncflow.cli.access import reading_store
from asyncflow.cli.common import BadInput, CliConfig, common_options, config_for, find_dag, load_bag
from asyncflow.engine.clearing import MARKABLE_STATES
from asyncflow.engine.run_actions import RunActions
from asyncflow.exceptions import DagRunNotFound, EngineError, TaskInstanceNotFound
from asyncflow.records import Reopening
from asyncflow.states import TaskState

T = TypeVar("T")

_downstream = click.option(
    "--downstream", "-d", is_flag=True, help="Every task after it (them) too."
)
_map_index = click.option(
    "--map-index",
    type=click.IntRange(min=0),
    metavar="I",
    help="Only this instance of a mapped task (default: all of them).",
)


@click.command("clear")
@click.argument("dag_id")
@click.argument("run_id")
@click.option(
    "--task", "-t", "task_ids", multiple=True, required=True, help="A task to clear (repeatable)."
)
@_downstream
@click.option("--only-failed", "-f", is_flag=True, help="Only failed and upstream_failed ones.")
@_map_index
@common_options
@click.pass_context
def clear_tasks(
    ctx: click.Context,
    dag_id: str,
    run_id: str,
    task_ids: tuple[str, ...],
    downstream: bool,
    only_failed: bool,
    map_index: int | None,
) -> None:
    """Clear task instances of finished run RUN_ID of DAG_ID, to run them again.

    The cleared instances run again with new tries (and their retries anew);
    a mapped task cleared whole expands again from its input. The run is
    queued: the engine serving the database (`asyncflow run`) starts it.

    \b
    Example:
        $ asyncflow tasks clear etl manual__2026-01-31T00:00:00+00:00 -t load --downstream
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    indexes = None if map_index is None else [map_index]

    def change(actions: RunActions) -> Awaitable[Reopening]:
        return actions.clear(
            run_id,
            task_ids,
            dag_id=dag_id,
            downstream=downstream,
            only_failed=only_failed,
            map_indexes=indexes,
        )

    _report(run_id, _run(config, dag_id, change))


@click.command("set-state")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@click.argument("state", type=click.Choice([str(state) for state in MARKABLE_STATES]))
@_downstream
@_map_index
@common_options
@click.pass_context
def set_task_state(
    ctx: click.Context,
    dag_id: str,
    run_id: str,
    task_id: str,
    state: str,
    downstream: bool,
    map_index: int | None,
) -> None:
    """Set task TASK_ID of finished run RUN_ID of DAG_ID to STATE, as Airflow's "Mark".

    The run is queued to decide again how it ends; after `success`, the failed
    and upstream_failed tasks downstream of it run.

    \b
    Example:
        $ asyncflow tasks set-state etl manual__2026-01-31T00:00:00+00:00 extract success
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    indexes = None if map_index is None else [map_index]

    def change(actions: RunActions) -> Awaitable[Reopening]:
        return actions.set_task_state(
            run_id,
            task_id,
            TaskState(state),
            dag_id=dag_id,
            downstream=downstream,
            map_indexes=indexes,
        )

    _report(run_id, _run(config, dag_id, change))


@click.command("mark-success")
@click.argument("dag_id")
@click.argument("run_id")
@common_options
@click.pass_context
def mark_success(ctx: click.Context, dag_id: str, run_id: str) -> None:
    """Mark run RUN_ID of DAG_ID and every task instance of it successful.

    A running run is marked by the engine running it (the web UI of
    `asyncflow standalone`, or `engine.actions.mark_success`).
    """
    config = config_for(ctx)
    marked = _run(config, dag_id, lambda actions: actions.mark_success(run_id, dag_id=dag_id))
    click.echo(
        f"Run {run_id} marked success." if marked else f"Run {run_id} was a success already."
    )


@click.command("delete")
@click.argument("dag_id")
@click.argument("run_id")
@click.option("--yes", is_flag=True, help="Do it without asking.")
@common_options
@click.pass_context
def delete_run(ctx: click.Context, dag_id: str, run_id: str, yes: bool) -> None:
    """Delete run RUN_ID of DAG_ID with its task instances, XCom values and try logs."""
    config = config_for(ctx)
    if not yes:
        click.confirm(f"Delete run {run_id} of {dag_id} and everything it stored?", abort=True)
    _run(config, dag_id, lambda actions: actions.delete(run_id, dag_id=dag_id))
    click.echo(f"Run {run_id} deleted.")


def _run(config: CliConfig, dag_id: str, change: Callable[[RunActions], Awaitable[T]]) -> T:
    """Do a change through the store alone, its errors as one line."""
    dag = find_dag(load_bag(config), dag_id, config.dags_folder.absolute())

    async def go() -> T:
        async with reading_store(config) as store:
            actions = RunActions(
                store=store,
                dags={dag_id: dag},
                now=lambda: datetime.now(UTC),
                logs_folder=config.settings.task_logs_folder,
            )
            return await change(actions)

    try:
        return anyio.run(go)
    except (DagRunNotFound, TaskInstanceNotFound) as error:
        raise BadInput(str(error)) from None
    except EngineError as error:
        raise click.ClickException(str(error)) from None


def _report(run_id: str, changes: Reopening) -> None:
    for task_id, map_index in changes.clear:
        click.echo(f"cleared  {_name(task_id, map_index)}")
    for task_id in changes.expand_again:
        click.echo(f"cleared  {task_id} (expands again)")
    for task_id, map_index, state in changes.marks:
        click.echo(f"{state:<8} {_name(task_id, map_index)}")
    if changes.empty:
        click.echo(f"Nothing to change in run {run_id}.")
    else:
        click.echo(f"Run {run_id} is queued: the engine serving the database runs it.")


def _name(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"
