"""``asyncflow tasks xcom``: the XCom values of one task instance, as JSON.

Values are read from the store without owning it, so this works beside a
running ``asyncflow run``. A value kept in object storage
(``ASYNCFLOW_XCOM_OBJECT_STORE``) shows as its reference,
``{"object_url": ..., "size": ...}``: the command line does not fetch it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import anyio
import click

from asyncflow.cli.access import reading_store
from asyncflow.cli.common import BadInput, CliConfig, common_options, config_for
from asyncflow.cli.instances import find_instance
from asyncflow.cli.output import print_json, ti_name
from asyncflow.records import XComRecord
from asyncflow.xcom import ObjectRef, decode

XComValues = dict[str, Any]
"""The XCom values of one task instance by key, decoded."""


@click.command("xcom")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@click.option("--key", metavar="K", help="Print this key's value alone (default: every key).")
@click.option("--map-index", type=click.IntRange(min=0), metavar="I", help="For a mapped task.")
@common_options
@click.pass_context
def xcom(
    ctx: click.Context,
    dag_id: str,
    run_id: str,
    task_id: str,
    key: str | None,
    map_index: int | None,
) -> int:
    """Print the XCom values of task TASK_ID in run RUN_ID of DAG_ID, as JSON.

    Without --key, one JSON object of every key the instance pushed (its
    result is `return_value`; `{}` when it pushed none); with --key, that
    key's value alone. Dates and times print as ISO 8601 strings. An unknown
    run, task or key, or a missing --map-index for a mapped task, exits 2.

    \b
    Example:
        $ asyncflow tasks xcom etl manual__2026-01-31T06:00:00.000000+00:00 extract
        $ asyncflow tasks xcom etl manual__2026-01-31T06:00:00.000000+00:00 load --key rows
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    index = -1 if map_index is None else map_index
    values = anyio.run(_values_of, config, dag_id, run_id, task_id, index)
    if key is None:
        print_json(values)
    elif key in values:
        print_json(values[key])
    else:
        known = ", ".join(sorted(values)) or "none"
        raise BadInput(
            f"{ti_name(task_id, index)} in run {run_id!r} has no XCom {key!r}; its keys: {known}"
        )
    return 0


async def _values_of(
    config: CliConfig, dag_id: str, run_id: str, task_id: str, map_index: int
) -> XComValues:
    async with reading_store(config) as store:
        await find_instance(store, dag_id, run_id, task_id, map_index)
        records = await store.get_run_xcoms(dag_id, run_id)
    return by_instance(records).get((task_id, map_index), {})


def by_instance(records: Iterable[XComRecord]) -> dict[tuple[str, int], XComValues]:
    """Decoded XCom values by task instance (``task_id``, ``map_index``), then by key."""
    found: dict[tuple[str, int], XComValues] = {}
    for record in records:
        found.setdefault((record.task_id, record.map_index), {})[record.key] = _plain(record.value)
    return found


def _plain(text: str) -> Any:
    """The stored value; a reference to object storage as the reference itself."""
    value = decode(text)
    if isinstance(value, ObjectRef):
        return {"object_url": value.url, "size": value.size}
    return value
