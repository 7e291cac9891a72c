"""How commands print: rich tables for people, one JSON document for scripts.

Tables are rendered by rich without borders and never cut or wrap a value (a
run id must stay whole to be copied); on a terminal the header is bold,
otherwise they are plain text (no colour, no trailing spaces) so that ``grep``
and ``awk`` work on them. ``--output json`` prints one JSON document instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from asyncflow.dag import DAG
from asyncflow.results import TaskInstanceResult

F = TypeVar("F", bound=Callable[..., Any])

_UNLIMITED = 1_000_000  # columns: a table is as wide as its values, never cut or wrapped


def output_option(command: F) -> F:
    """Add ``--output table|json`` (``-o``) to a listing command."""
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="Print a table for people, or one JSON document for scripts.",
    )(command)


def console(*, stderr: bool = False, fit: bool = False) -> Console:
    """A rich console on stdout (or stderr): colour only on a terminal, no markup in values.

    Args:
        stderr: Write to stderr instead of stdout.
        fit: Fit the terminal's width (for a progress bar); else lines are never cut.
    """
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream,
        width=None if fit and stream.isatty() else _UNLIMITED,
        markup=False,  # values such as "add_one[0]" are text, not rich markup
        emoji=False,
        highlight=False,
    )


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> None:
    """Print rows as borderless columns, with a bold header line when ``header`` is given.

    Example:
        >>> print_table([["etl", "success"]], header=["dag_id", "state"])  # doctest: +SKIP
        dag_id  state
        etl     success
    """
    if not rows and not header:
        return
    width = len(header) if header else len(rows[0])
    table = Table(box=None, pad_edge=False, show_edge=False, show_header=bool(header))
    for name in header or [""] * width:
        table.add_column(name, header_style="bold", no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*row)
    out = console()
    with out.capture() as captured:
        out.print(table)
    for line in captured.get().splitlines():
        click.echo(line.rstrip(), color=out.is_terminal)


def print_json(document: Any) -> None:
    """Print one JSON document (datetimes as ISO 8601 strings)."""
    click.echo(json.dumps(document, indent=2, default=_json_default))


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def when(value: datetime | None) -> str:
    """A datetime for a table: UTC to the second, ``-`` when there is none.

    Example:
        >>> when(datetime(2026, 1, 31, 6, tzinfo=UTC))
        '2026-01-31T06:00:00Z'
    """
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(value: datetime | None) -> str | None:
    """A datetime for JSON: full ISO 8601, or ``None``."""
    return None if value is None else value.isoformat()


def in_flow_order(
    instances: Sequence[TaskInstanceResult], dag: DAG | None
) -> list[TaskInstanceResult]:
    """Task instances by depth in the graph (roots first), then task_id and map_index.

    Without the DAG (its file is gone) they keep the order they came in.
    """
    if dag is None:
        return list(instances)
    depth: dict[str, int] = {}
    for task in dag.topological_order():
        depth[task.task_id] = max((depth[up] + 1 for up in task.upstream_task_ids), default=0)
    return sorted(
        instances,
        key=lambda ti: (depth.get(ti.task_id, len(depth)), ti.task_id, ti.map_index),
    )


def ti_row(ti: TaskInstanceResult) -> list[str]:
    """One task instance as a row: name (with map index), state, try, error."""
    tries = f"try {ti.try_number}" if ti.try_number else "-"
    return [ti_name(ti.task_id, ti.map_index), str(ti.state or "none"), tries, ti.error or ""]


def ti_name(task_id: str, map_index: int) -> str:
    """``task_id``, or ``task_id[map_index]`` for a mapped instance."""
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"
