"""``asyncflow logs``: print (or follow) the log of one try of one task instance."""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio
import click

from asyncflow.cli.access import reading_store
from asyncflow.cli.common import BadInput, CliConfig, common_options, config_for
from asyncflow.cli.instances import find_instance
from asyncflow.cli.output import ti_name
from asyncflow.records import TaskInstanceRecord
from asyncflow.states import FINISHED_TASK_STATES, TaskState
from asyncflow.task_logs import try_log_path

FOLLOW_INTERVAL = 0.5  # seconds between looks at the file and the store while following
_CHUNK = 1 << 16


@click.command("logs")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@click.option(
    "--try", "try_number", type=click.IntRange(min=1), metavar="N", help="Default: the latest."
)
@click.option("--map-index", type=click.IntRange(min=0), metavar="I", help="For a mapped task.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the try ends.")
@common_options
@click.pass_context
def logs(
    ctx: click.Context,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int | None,
    map_index: int | None,
    follow: bool,
) -> int:
    """Print the log of one try of a task instance.

    The instance is TASK_ID in run RUN_ID of DAG_ID; the try is its latest
    unless --try says otherwise. With --follow, new lines are printed as the
    try writes them until it has ended (a try not started yet is waited for);
    Ctrl-C stops following. A try that wrote nothing has no log file: that is
    said on stderr, and the exit code is 0. An unknown run, task or try exits 2.

    \b
    Example:
        $ asyncflow logs etl manual__2026-01-31T06:00:00.000000+00:00 load --try 1
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    config = config_for(ctx)
    index = -1 if map_index is None else map_index
    ti = anyio.run(_instance_of, config, dag_id, run_id, task_id, index)
    number = try_number or max(ti.try_number, 1 if follow else 0)
    _check_try(ti, number, follow)
    path = try_log_path(config.settings.task_logs_folder, dag_id, run_id, task_id, index, number)
    if follow:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends following, not badly
            anyio.run(_follow, config, ti, number, path)
    elif path.is_file():
        _print_from(path, 0, whole=True)
    else:
        name = ti_name(task_id, index)
        click.echo(f"try {number} of {name} wrote no output (no log file {path})", err=True)
    return 0


async def _instance_of(
    config: CliConfig, dag_id: str, run_id: str, task_id: str, map_index: int
) -> TaskInstanceRecord:
    async with reading_store(config) as store:
        return await find_instance(store, dag_id, run_id, task_id, map_index)


def _check_try(ti: TaskInstanceRecord, number: int, follow: bool) -> None:
    """Refuse a try that has not happened (following may wait for the next one)."""
    name = ti_name(ti.task_id, ti.map_index)
    if number == 0:
        raise BadInput(f"{name} has not run yet in {ti.run_id} (state {ti.state or 'none'})")
    waits = follow and number == ti.try_number + 1 and ti.state not in FINISHED_TASK_STATES
    if number > ti.try_number and not waits:
        raise BadInput(f"{name} has had {ti.try_number} tries in {ti.run_id}, so no try {number}")


async def _follow(config: CliConfig, ti: TaskInstanceRecord, number: int, path: Path) -> None:
    """Print the file's new lines until try ``number`` of the instance has ended."""
    offset = 0
    async with reading_store(config) as store:
        while True:
            offset = _print_from(path, offset)
            ti = await find_instance(store, ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
            if _try_over(ti, number):
                _print_from(path, offset, whole=True)
                return
            await anyio.sleep(FOLLOW_INTERVAL)


def _try_over(ti: TaskInstanceRecord, number: int) -> bool:
    """Whether try ``number`` has ended (or never will, the instance being finished)."""
    if ti.state in FINISHED_TASK_STATES or ti.try_number > number:
        return True
    return ti.try_number == number and ti.state is TaskState.UP_FOR_RETRY


def _print_from(path: Path, offset: int, *, whole: bool = False) -> int:
    """Print the file from ``offset`` up to its last complete line (all of it if ``whole``).

    Returns the offset to continue from.
    """
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        return offset
    if not whole:
        data = data[: data.rfind(b"\n") + 1]
    for start in range(0, len(data), _CHUNK):
        click.echo(data[start : start + _CHUNK], nl=False)
    return offset + len(data)
