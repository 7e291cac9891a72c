"""``asyncflow runs ...``: the DAG runs in the database, newest first; marking and deleting."""

from __future__ import annotations

import anyio
import click

from asyncflow.cli.access import reading_store
from asyncflow.cli.common import CliConfig, common_options, config_for, find_dag, load_bag
from asyncflow.cli.output import iso, output_option, print_json, print_table, when
from asyncflow.cli.run_changes import delete_run, mark_success
from asyncflow.records import DagRunRecord
from asyncflow.states import DagRunState


@click.group()
@common_options
def runs() -> None:
    """Look at DAG runs; mark a finished one successful or delete it."""


runs.add_command(mark_success)
runs.add_command(delete_run)


@runs.command("list")
@click.argument("dag_id", required=False)
@click.option(
    "--state",
    type=click.Choice([state.value for state in DagRunState]),
    help="Only the runs in this state.",
)
@output_option
@common_options
@click.pass_context
def list_runs(ctx: click.Context, dag_id: str | None, state: str | None, output: str) -> None:
    """List the runs of every DAG, or of DAG_ID, newest logical date first.

    \b
    Example:
        $ asyncflow runs list etl --state failed
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    states = [DagRunState(state)] if state else None
    records = anyio.run(_read, config, dag_id, states)
    if not records and dag_id is not None:
        # a DAG with no run may simply be new; one that is nowhere is a mistake
        find_dag(load_bag(config), dag_id, config.dags_folder.absolute())
    if output == "json":
        print_json([_as_json(r) for r in records])
    elif records:
        print_table(
            [
                [
                    r.run_id,
                    r.dag_id,
                    str(r.state),
                    r.run_type,
                    when(r.logical_date),
                    when(r.start_date),
                    when(r.end_date),
                ]
                for r in records
            ],
            header=["run_id", "dag_id", "state", "run_type", "logical_date", "start", "end"],
        )
    else:
        whose = f" of {dag_id}" if dag_id else ""
        click.echo(f"No {state + ' ' if state else ''}runs{whose}.")


async def _read(
    config: CliConfig, dag_id: str | None, states: list[DagRunState] | None
) -> list[DagRunRecord]:
    async with reading_store(config) as store:
        return await store.list_runs(dag_id, states)


def _as_json(record: DagRunRecord) -> dict[str, object]:
    return {
        "run_id": record.run_id,
        "dag_id": record.dag_id,
        "state": str(record.state),
        "run_type": record.run_type,
        "logical_date": iso(record.logical_date),
        "start_date": iso(record.start_date),
        "end_date": iso(record.end_date),
        "conf": record.conf,
    }
