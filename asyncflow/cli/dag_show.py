"""``asyncflow dags show DAG_ID``: one DAG's settings, documentation and tasks."""

from __future__ import annotations

from typing import Any

import anyio
import click

from asyncflow.cli.access import paused_dag_ids
from asyncflow.cli.common import common_options, config_for, find_dag, load_bag, shown_path
from asyncflow.cli.output import output_option, print_json, print_table, when
from asyncflow.dag import DAG
from asyncflow.schedule import describe_schedule


@click.command("show")
@click.argument("dag_id")
@output_option
@common_options
@click.pass_context
def show(ctx: click.Context, dag_id: str, output: str) -> None:
    """Show one DAG: its schedule, description, documentation and tasks in flow order.

    \b
    Example:
        $ asyncflow dags show etl
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    bag = load_bag(config)
    dag = find_dag(bag, dag_id, config.dags_folder)
    paused = dag.dag_id in anyio.run(paused_dag_ids, config)
    document = describe(dag, paused, shown_path(dag.fileloc, config.dags_folder.absolute()))
    if output == "json":
        print_json(document)
        return
    for label, key in _FIELDS:
        value = document[key]
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{label:<13}{shown if shown not in (None, '') else '-'}")
    if dag.doc_md:
        click.echo()
        click.echo(dag.doc_md.strip())
    click.echo()
    rows = [
        [t["task_id"], t["type"], t["trigger_rule"], ", ".join(t["upstream"]) or "-"]
        for t in document["tasks"]
    ]
    print_table(rows, header=["task_id", "type", "trigger_rule", "upstream"])


_FIELDS = [
    ("dag_id", "dag_id"),
    ("name", "display_name"),
    ("description", "description"),
    ("schedule", "schedule"),
    ("start_date", "start_date"),
    ("catchup", "catchup"),
    ("paused", "paused"),
    ("tags", "tags"),
    ("owners", "owners"),
    ("file", "file"),
]


def describe(dag: DAG, paused: bool, file: str) -> dict[str, Any]:
    """What ``dags show`` prints, as one JSON-ready document."""
    tasks = dag.topological_order()
    return {
        "dag_id": dag.dag_id,
        "display_name": dag.dag_display_name,
        "description": dag.description,
        "doc_md": dag.doc_md,
        "schedule": describe_schedule(dag.schedule),
        "start_date": when(dag.start_date) if dag.start_date else None,
        "catchup": "yes" if dag.catchup else "no",
        "paused": "yes" if paused else "no",
        "tags": list(dag.tags),
        "owners": sorted({t.owner for t in tasks}),
        "file": file,
        "tasks": [
            {
                "task_id": t.task_id,
                "type": t.task_type,
                "trigger_rule": str(t.trigger_rule),
                "upstream": sorted(t.upstream_task_ids),
                "doc_md": t.doc_md,
            }
            for t in tasks
        ],
    }
