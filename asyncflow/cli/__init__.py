"""The ``asyncflow`` command line.

Every sub-command takes ``--dags-folder``, ``--database-url`` and ``--verbose``
(before the sub-command or after it) and reads ``ASYNCFLOW_HOME``,
``ASYNCFLOW_DAGS_FOLDER`` and ``ASYNCFLOW_DATABASE_URL``. Command output goes to
stdout; logs and errors go to stderr.

Commands: ``db init|reset``; ``dags list|test|trigger|backfill|pause|unpause``;
``runs list``; ``tasks states|xcom|test``; ``logs``; ``run``; ``standalone``.
Listings print a table for people or, with ``--output json``, one JSON document.

Exit codes: 0 success; 1 a run, backfill or task failed, or an unexpected
error; 2 a user mistake (bad argument, unknown DAG, run or task, missing DAG
folder or database, bad setting, a store served by another process), reported
as one line on stderr, never a traceback (``--verbose`` shows tracebacks of
unexpected errors).

Example:
    $ asyncflow db init
    $ asyncflow dags list
    $ asyncflow dags test etl --conf '{"day": "2026-01-31"}'
    $ asyncflow run
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from asyncflow.cli.common import USER_ERROR, CliState, common_options
from asyncflow.cli.dags import dags
from asyncflow.cli.db import db
from asyncflow.cli.logs import logs
from asyncflow.cli.runs import runs
from asyncflow.cli.serve import run_command, standalone_command
from asyncflow.cli.tasks import tasks
from asyncflow.cli.users import users
from asyncflow.cli.web import web_command
from asyncflow.exceptions import AsyncflowError, DagNotFound, ParamValidationError, StoreInUse
from asyncflow.settings import SettingsError

__all__ = ["cli", "main"]

# click >= 8.2 raises this for a bare group; its "message" is the whole help text.
_HELP_ERRORS: tuple[type[click.UsageError], ...] = tuple(
    error
    for error in [getattr(click.exceptions, "NoArgsIsHelpError", None)]
    if isinstance(error, type) and issubclass(error, click.UsageError)
)
_USER_ERRORS = (DagNotFound, ParamValidationError, SettingsError, StoreInUse)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="asyncflow")
@common_options
def cli() -> None:
    """asyncflow: Airflow-style workflows where every task is a coroutine."""


for command in (db, dags, runs, tasks, logs, run_command, standalone_command, web_command, users):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the ``asyncflow`` command line and exit with its code.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Example:
        >>> main(["dags", "list"])  # doctest: +SKIP
    """
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code instead of exiting."""
    state = CliState()
    try:
        result = _invoke(argv, state)
    except _HELP_ERRORS as error:
        error.show()
        return USER_ERROR
    except click.UsageError as error:
        where = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
        return _fail(f"{error.format_message()}{where}", error.exit_code)
    except click.ClickException as error:
        return _fail(error.format_message(), error.exit_code)
    except click.Abort:
        return _fail("interrupted", 130)
    except _USER_ERRORS as error:
        return _fail(str(error), USER_ERROR, error if state.verbose else None)
    except AsyncflowError as error:
        return _fail(str(error), 1, error if state.verbose else None)
    except Exception as error:
        hint = "" if state.verbose else " (run with --verbose for the traceback)"
        message = f"unexpected {type(error).__name__}: {error}{hint}"
        return _fail(message, 1, error if state.verbose else None)
    return result if isinstance(result, int) else 0


def _invoke(argv: Sequence[str] | None, state: CliState) -> Any:
    """Run the click command; a group of one exception (from a task group) is that exception."""
    try:
        return cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="asyncflow",
            obj=state,
            standalone_mode=False,
        )
    except BaseExceptionGroup as group:
        while isinstance(group, BaseExceptionGroup) and len(group.exceptions) == 1:
            group = group.exceptions[0]
        if isinstance(group, BaseExceptionGroup):
            raise
        raise group from None


def _fail(message: str, code: int, error: BaseException | None = None) -> int:
    """Report on stderr: the traceback only when asked, then the reason on one line."""
    if error is not None:
        traceback.print_exception(error, file=sys.stderr)
    click.echo(f"Error: {' '.join(message.split())}", err=True)
    return code
