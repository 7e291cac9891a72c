"""What every sub-command shares: the global options, configuration, errors and DAG loading.

``--dags-folder``, ``--database-url`` and ``--verbose`` are accepted before the
sub-command and on each sub-command; the one nearest the sub-command wins, then
the environment (``ASYNCFLOW_DAGS_FOLDER``, ``ASYNCFLOW_DATABASE_URL``), then
the defaults under ``ASYNCFLOW_HOME`` (see :class:`CliConfig`). The engine's
own settings come from the environment (:mod:`asyncflow.settings`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog

from asyncflow.dag import DAG, as_utc
from asyncflow.dag_loader import DagBag, load_dags
from asyncflow.exceptions import StoreError
from asyncflow.log import configure as configure_logging
from asyncflow.log import get_logger
from asyncflow.settings import Settings
from asyncflow.storage import open_store

F = TypeVar("F", bound=Callable[..., Any])

log = get_logger("asyncflow.cli")

USER_ERROR = 2
"""Exit code of a user mistake (bad argument, unknown DAG, missing folder), as click uses."""


class BadInput(click.ClickException):
    """A user mistake: one line on stderr and exit code 2, never a traceback."""

    exit_code = USER_ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class CliConfig:
    """What a command works with: the store, the DAG folder and the engine's settings.

    The store and the DAG folder are the command line's to choose (an embedding
    service passes them to :class:`~asyncflow.Engine` itself); everything the
    engine reads is in :attr:`settings`.
    """

    database_url: str
    dags_folder: Path
    settings: Settings

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        database_url: str | None = None,
        dags_folder: str | Path | None = None,
    ) -> CliConfig:
        """The configuration from the options given, else the environment, else the defaults.

        ``ASYNCFLOW_DATABASE_URL`` defaults to ``sqlite:///<home>/asyncflow.db`` and
        ``ASYNCFLOW_DAGS_FOLDER`` to ``<home>/dags``, where home is ``ASYNCFLOW_HOME``
        (default ``~/asyncflow``).

        Raises:
            SettingsError: an environment variable holds a value of the wrong kind.

        Example:
            >>> CliConfig.from_env({"ASYNCFLOW_HOME": "/srv/af"}).dags_folder
            PosixPath('/srv/af/dags')
        """
        env = os.environ if env is None else env
        settings = Settings.from_env(env)
        if database_url is None:
            home_db = f"sqlite:///{settings.home / 'asyncflow.db'}"
            database_url = env.get("ASYNCFLOW_DATABASE_URL") or home_db
        if dags_folder is None:
            dags_folder = env.get("ASYNCFLOW_DAGS_FOLDER") or settings.home / "dags"
        return cls(
            database_url=database_url,
            dags_folder=Path(dags_folder).expanduser(),
            settings=settings,
        )


@dataclass(slots=True)
class CliState:
    """The global options as given so far; a sub-command's own options override them."""

    dags_folder: str | None = None
    database_url: str | None = None
    verbose: bool = False


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and value is not False and param.name is not None:
        setattr(ctx.ensure_object(CliState), param.name, value)


def common_options(command: F) -> F:
    """Add ``--dags-folder``, ``--database-url`` and ``--verbose`` to a group or command."""
    options = [
        click.option(
            "--dags-folder",
            metavar="PATH",
            expose_value=False,
            callback=_remember,
            help="Folder of DAG files [env ASYNCFLOW_DAGS_FOLDER; default: $ASYNCFLOW_HOME/dags].",
        ),
        click.option(
            "--database-url",
            metavar="URL",
            expose_value=False,
            callback=_remember,
            help="Store URL [env ASYNCFLOW_DATABASE_URL; default: sqlite:///$ASYNCFLOW_HOME/"
            "asyncflow.db].",
        ),
        click.option(
            "--verbose",
            "-v",
            is_flag=True,
            default=False,
            expose_value=False,
            callback=_remember,
            help="Log debug events and show tracebacks of unexpected errors.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def config_for(ctx: click.Context, *, service: bool = False) -> CliConfig:
    """The configuration of this invocation, with logging configured to stderr.

    A command logs warnings and errors for people; a service (``asyncflow run``)
    logs its events from INFO up, as JSON lines when stderr is not a terminal.
    ``--verbose`` adds the debug events to either.

    Raises:
        SettingsError: an environment variable holds a value of the wrong kind.
        BadInput: the database URL is not one asyncflow can use.
    """
    state = ctx.ensure_object(CliState)
    quiet = logging.INFO if service else logging.WARNING
    configure_logging(
        logging.DEBUG if state.verbose else quiet,
        stream=sys.stderr,
        json=None if service else False,
    )
    if not service and not state.verbose:
        _render_without_tracebacks()
    config = CliConfig.from_env(database_url=state.database_url, dags_folder=state.dags_folder)
    try:
        open_store(config.database_url)  # only parses the URL; nothing is opened
    except StoreError as error:
        raise BadInput(f"--database-url: {error}") from None
    return config


def _render_without_tracebacks() -> None:
    """Leave tracebacks out of the events shown on the terminal (try logs keep them)."""
    *processors, renderer = structlog.get_config()["processors"]
    structlog.configure(processors=[*processors, _without_traceback, renderer])


def _without_traceback(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    event.pop("traceback", None)
    return event


def drop_log_events(*names: str) -> None:
    """Show none of these events (the command reports the same thing itself)."""

    def drop(
        logger: object, method: str, event: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        if event.get("event") in names:
            raise structlog.DropEvent
        return event

    structlog.configure(processors=[drop, *structlog.get_config()["processors"]])


def leave_stuck_threads(*, exit_code: int, wait: float = 1.0) -> None:
    """Exit now, with ``exit_code``, if a sync task's thread still runs after the engine closed.

    Its try was recorded already; Python would otherwise wait for the thread
    (for as long as the task's code runs) before the process could end.
    """
    deadline = time.monotonic() + wait
    for thread in _other_threads():
        thread.join(max(0.0, deadline - time.monotonic()))  # idle workers end at once
    stuck = _other_threads()
    if stuck:
        log.warning("threads_left_running", count=len(stuck), names=[t.name for t in stuck])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)


def _other_threads() -> list[threading.Thread]:
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]


def load_bag(config: CliConfig) -> DagBag:
    """Load the DAG folder; a folder that does not exist is a user mistake."""
    try:
        return load_dags(config.dags_folder)
    except (FileNotFoundError, NotADirectoryError) as error:
        raise BadInput(
            f"{error} (set --dags-folder or ASYNCFLOW_DAGS_FOLDER, or create it)"
        ) from None


def find_dag(bag: DagBag, dag_id: str, folder: Path) -> DAG:
    """The DAG ``dag_id`` from the bag, or a one-line error that helps find it.

    When the DAG is missing and a file that failed to import looks like its
    file (named after it, or mentioning the id), the error says so.
    """
    found = bag.dags.get(dag_id)
    if found is not None:
        return found
    suspect = _failed_file_of(bag, dag_id)
    if suspect is not None:
        raise BadInput(
            f"DAG {dag_id!r} not found; its file may have failed to import: {bag.errors[suspect]}"
        )
    known = ", ".join(sorted(bag.dags)) or "none"
    raise BadInput(f"DAG {dag_id!r} not found in {folder}; known DAGs: {known}")


def _failed_file_of(bag: DagBag, dag_id: str) -> str | None:
    """The failed file named after ``dag_id``, else the first one that mentions it."""
    mention = re.compile(rf"(?<![\w.-]){re.escape(dag_id)}(?![\w.-])")
    named = [file for file in bag.errors if Path(file).stem == dag_id]
    if named:
        return named[0]
    for file in bag.errors:
        try:
            text = Path(file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if mention.search(text):
            return file
    return None


def shown_path(path: str | None, folder: Path) -> str:
    """``path`` relative to ``folder`` when it is inside it, else as is."""
    if path is None:
        return "-"
    file = Path(path)
    return str(file.relative_to(folder)) if file.is_relative_to(folder) else path


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


def parse_date(text: str, option: str) -> datetime:
    """An ISO 8601 date or date-time option as an aware UTC datetime (naive means UTC).

    Example:
        >>> parse_date("2026-01-31", "--start-date")
        datetime.datetime(2026, 1, 31, 0, 0, tzinfo=datetime.timezone.utc)
    """
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise BadInput(
            f"{option} {text!r} is not an ISO 8601 date or date-time "
            "(e.g. 2026-01-31 or 2026-01-31T06:00:00+00:00)"
        ) from None


def parse_logical_date(text: str | None) -> datetime | None:
    """The ``--logical-date`` as an aware UTC datetime, or ``None`` when not given."""
    return None if text is None else parse_date(text, "--logical-date")


def logical_date_option(command: F) -> F:
    """Add ``--logical-date ISO`` to a command."""
    return click.option(
        "--logical-date",
        metavar="ISO",
        help="Logical date of the run, ISO 8601 (2026-01-31 or 2026-01-31T06:00:00+00:00); "
        "default: now. Naive means UTC.",
    )(command)
