"""``asyncflow dags backfill``: run a DAG's data intervals over a range of dates, in-process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import anyio
import click

from asyncflow.cli.access import open_engine
from asyncflow.cli.common import (
    BadInput,
    CliConfig,
    common_options,
    config_for,
    find_dag,
    load_bag,
    parse_date,
)
from asyncflow.cli.output import console, iso, output_option, print_json, print_table, when
from asyncflow.dag import DAG
from asyncflow.results import DagRunResult
from asyncflow.schedule import NoSchedule
from asyncflow.states import DagRunState

if TYPE_CHECKING:
    from rich.progress import Progress


class Action(StrEnum):
    """What the backfill did about a logical date in its range."""

    CREATED = "created"  # no run had this logical date: one was created and run
    RERUN = "rerun"  # its run had failed: its failed tasks ran again (--rerun-failed)
    EXISTING = "existing"  # its run was left as it was


@dataclass(frozen=True, slots=True, kw_only=True)
class BackfillRun:
    """One run of the backfill and what the backfill did about it."""

    result: DagRunResult
    action: Action


@click.command("backfill")
@click.argument("dag_id")
@click.option("--start-date", "-s", required=True, metavar="DATE", help="First logical date.")
@click.option("--end-date", "-e", required=True, metavar="DATE", help="Last logical date.")
@click.option(
    "--rerun-failed",
    is_flag=True,
    help="Run the failed runs in the range again (their failed tasks).",
)
@output_option
@common_options
@click.pass_context
def backfill(
    ctx: click.Context,
    dag_id: str,
    start_date: str,
    end_date: str,
    rerun_failed: bool,
    output: str,
) -> int:
    """Run every data interval of DAG_ID whose logical date is from --start-date to --end-date.

    Runs are `backfill__<logical date>`, created oldest first within the DAG's
    `max_active_runs` and run in this process; a logical date that already has
    a finished run is not run again (a failed one is, with --rerun-failed), so a
    backfill can be repeated. Shows progress on stderr, then prints each run's
    state. Exits 0 when every run succeeded, 1 when any failed. Dates are ISO 8601;
    naive means UTC. The database must not be served by `asyncflow run` meanwhile.

    \b
    Example:
        $ asyncflow dags backfill etl --start-date 2026-01-01 --end-date 2026-01-31
    """  # noqa: D301 - a \b line is click's mark to keep the example unwrapped
    start = parse_date(start_date, "--start-date")
    end = parse_date(end_date, "--end-date")
    if start > end:
        raise BadInput(f"--start-date {start_date} is after --end-date {end_date}")
    config = config_for(ctx)
    dag = find_dag(load_bag(config), dag_id, config.dags_folder.absolute())
    if isinstance(dag.schedule, NoSchedule):
        raise BadInput(
            f"DAG {dag_id!r} has no schedule (schedule=None): a backfill runs the data "
            "intervals of a schedule; use `asyncflow dags trigger` for a manual run"
        )
    with _progress(dag_id) as report:
        runs = anyio.run(_backfill, config, dag, start, end, rerun_failed, report)
    if output == "json":
        print_json([_as_json(run) for run in runs])
    elif not runs:
        click.echo(
            f"No data interval of {dag_id} has a logical date from {when(start)} to {when(end)}."
        )
    else:
        _print_runs(runs)
    return 1 if any(run.result.state == DagRunState.FAILED for run in runs) else 0


async def _backfill(
    config: CliConfig,
    dag: DAG,
    start: datetime,
    end: datetime,
    rerun_failed: bool,
    report: ProgressReport,
) -> list[BackfillRun]:
    async with open_engine(config, resume=[dag], create=True) as engine:
        before = {r.run_id: r.state for r in await engine.store.list_runs(dag.dag_id)}
        results = await engine.backfill(
            dag.dag_id, start, end, rerun_failed=rerun_failed, on_progress=report
        )
    return [
        BackfillRun(result=r, action=_action(before.get(r.run_id), rerun_failed)) for r in results
    ]


def _action(before: DagRunState | None, rerun_failed: bool) -> Action:
    if before is None:
        return Action.CREATED
    if before == DagRunState.FAILED and rerun_failed:
        return Action.RERUN
    return Action.EXISTING


class ProgressReport:
    """Follows ``engine.backfill``'s progress: a rich bar on a terminal, else plain lines."""

    def __init__(self, dag_id: str, progress: Progress | None) -> None:
        self.dag_id = dag_id
        self.progress = progress
        self.task = progress.add_task(dag_id, total=None, failed=0) if progress else None

    def __call__(self, done: int, total: int, failed: int) -> None:
        """A run finished: ``done`` of ``total``, ``failed`` of them failed."""
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=done, total=total, failed=failed)
        else:
            click.echo(
                f"backfill {self.dag_id}: {done}/{total} runs done, {failed} failed", err=True
            )


@contextmanager
def _progress(dag_id: str) -> Iterator[ProgressReport]:
    out = console(stderr=True, fit=True)
    if not out.is_terminal:
        yield ProgressReport(dag_id, None)
        return
    # imported here: a bar is drawn only on a terminal, and rich.progress takes a while to load
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("backfill {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs, {task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out) as progress:
        yield ProgressReport(dag_id, progress)


def _print_runs(runs: list[BackfillRun]) -> None:
    print_table(
        [
            [
                run.result.run_id,
                when(run.result.logical_date),
                str(run.result.state),
                str(run.action),
            ]
            for run in runs
        ],
        header=["run_id", "logical_date", "state", "backfill"],
    )
    failed = sum(run.result.state == DagRunState.FAILED for run in runs)
    created = sum(run.action is Action.CREATED for run in runs)
    click.echo(
        f"{len(runs)} runs ({created} created), {len(runs) - failed} succeeded, {failed} failed"
    )


def _as_json(run: BackfillRun) -> dict[str, object]:
    result = run.result
    return {
        "run_id": result.run_id,
        "dag_id": result.dag_id,
        "logical_date": iso(result.logical_date),
        "state": str(result.state),
        "backfill": str(run.action),
    }
