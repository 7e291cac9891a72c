"""``asyncflow dags ...``: list the DAGs of the DAG folder, run one to the end."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import anyio
import click

from asyncflow.cli.common import (
    BadInput,
    common_options,
    find_dag,
    load_bag,
    print_table,
    settings_for,
    shown_path,
)
from asyncflow.dag import DAG, as_utc
from asyncflow.dag_loader import DagBag
from asyncflow.engine import Engine
from asyncflow.exceptions import DagRunNotFound
from asyncflow.results import DagRunResult, TaskInstanceResult
from asyncflow.schedule import CronSchedule, DeltaSchedule, OnceSchedule, Schedule
from asyncflow.states import DagRunState


@click.group()
@common_options
def dags() -> None:
    """List, test and run DAGs."""


@dags.command("list")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Print a table, or one JSON document.",
)
@common_options
@click.pass_context
def list_dags(ctx: click.Context, output: str) -> None:
    """List the DAGs of the DAG folder, then the files that failed to import.

    Import errors do not change the exit code (0): the other DAGs still load.

    \b
    Example:
        $ asyncflow dags list --output json
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    settings = settings_for(ctx)
    bag = load_bag(settings)
    folder = settings.dags_folder.absolute()
    if output == "json":
        click.echo(json.dumps(_as_json(bag), indent=2))
        return
    rows = [
        [
            d.dag_id,
            describe_schedule(d.schedule),
            str(len(d.task_dict)),
            shown_path(d.fileloc, folder),
        ]
        for d in sorted(bag.dags.values(), key=lambda d: d.dag_id)
    ]
    if rows:
        print_table(rows, header=["dag_id", "schedule", "tasks", "file"])
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
@click.option("--conf", metavar="JSON", help="Run configuration, a JSON object: '{\"day\": 3}'.")
@click.option(
    "--logical-date",
    metavar="ISO",
    help="Logical date of the run, ISO 8601 (2026-01-31 or 2026-01-31T06:00:00+00:00); "
    "default: now. Naive means UTC.",
)
@common_options
@click.pass_context
def test_dag(ctx: click.Context, dag_id: str, conf: str | None, logical_date: str | None) -> int:
    """Run one run of DAG_ID to the end, in this process, recorded in the database.

    Prints one line per task instance, then the run's state. Exits 0 when the
    run succeeded, 1 when it failed, 2 on a bad argument.

    \b
    Example:
        $ asyncflow dags test etl --conf '{"day": "2026-01-31"}'
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    run_conf = parse_conf(conf)
    when = parse_logical_date(logical_date)
    settings = settings_for(ctx)
    dag = find_dag(load_bag(settings), dag_id, settings.dags_folder.absolute())

    async def run() -> DagRunResult | str:
        async with Engine(settings.database_url, dags=[dag], settings=settings) as engine:
            existing = await _existing_run_id(engine, dag, when)
            if existing is not None:
                return existing
            return await engine.run(dag.dag_id, conf=run_conf, logical_date=when)

    result = anyio.run(run)
    if isinstance(result, str):
        raise BadInput(
            f"DAG {dag_id!r} already has run {result!r} in the database; "
            "pass another --logical-date"
        )
    print_table([_ti_row(ti) for ti in _in_flow_order(result, dag)])
    click.echo(f"DAG run {result.run_id} of {result.dag_id}: {result.state}")
    return 0 if result.state == DagRunState.SUCCESS else 1


def parse_conf(text: str | None) -> dict[str, Any] | None:
    """The ``--conf`` JSON object, or a one-line error when it is not one.

    Example:
        >>> parse_conf('{"day": 3}')
        {'day': 3}
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"--conf is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise BadInput(f"--conf must be a JSON object ({{...}}), got {type(value).__name__}")
    return value


def parse_logical_date(text: str | None) -> datetime | None:
    """The ``--logical-date`` as an aware UTC datetime (naive means UTC).

    Example:
        >>> parse_logical_date("2026-01-31")
        datetime.datetime(2026, 1, 31, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if text is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise BadInput(
            f"--logical-date {text!r} is not an ISO 8601 date or date-time "
            "(e.g. 2026-01-31 or 2026-01-31T06:00:00+00:00)"
        ) from None


def describe_schedule(schedule: Schedule) -> str:
    """How a parsed schedule reads in a listing: ``None``, ``@once``, cron, or a duration."""
    if isinstance(schedule, CronSchedule):
        return schedule.expression
    if isinstance(schedule, DeltaSchedule):
        return str(schedule.delta)
    if isinstance(schedule, OnceSchedule):
        return "@once"
    return "None"


async def _existing_run_id(engine: Engine, dag: DAG, when: datetime | None) -> str | None:
    """The id of the manual run at ``when`` if the database has it already.

    Triggering it again would only return the old run, so the command refuses instead.
    """
    if when is None:
        return None
    run_id = f"manual__{when.isoformat(timespec='microseconds')}"
    try:
        await engine.get_run(run_id, dag_id=dag.dag_id)
    except DagRunNotFound:
        return None
    return run_id


def _in_flow_order(result: DagRunResult, dag: DAG) -> list[TaskInstanceResult]:
    """Task instances by depth in the graph (roots first), then task_id and map_index."""
    depth: dict[str, int] = {}
    for task in dag.topological_order():
        depth[task.task_id] = max((depth[up] + 1 for up in task.upstream_task_ids), default=0)
    return sorted(
        result.task_instances,
        key=lambda ti: (depth.get(ti.task_id, len(depth)), ti.task_id, ti.map_index),
    )


def _ti_row(ti: TaskInstanceResult) -> list[str]:
    name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
    tries = f"try {ti.try_number}" if ti.try_number else "-"
    return [name, str(ti.state or "none"), tries, ti.error or ""]


def _as_json(bag: DagBag) -> Mapping[str, Any]:
    return {
        "dags": [
            {
                "dag_id": d.dag_id,
                "schedule": describe_schedule(d.schedule),
                "tasks": len(d.task_dict),
                "file": d.fileloc,
                "description": d.description,
                "tags": list(d.tags),
            }
            for d in sorted(bag.dags.values(), key=lambda d: d.dag_id)
        ],
        "import_errors": [{"file": file, "error": error} for file, error in bag.errors.items()],
    }
