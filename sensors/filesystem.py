"""``FileSensor``: wait for a file, a glob match or a non-empty directory to appear.

The check follows Airflow's ``FileSensor``: every path the glob matches counts
when it is a file, or a directory with at least one file somewhere below it (an
empty directory, or one holding only empty directories, does not count). The
filesystem is read in a worker thread, so a slow disk or network mount never
blocks the event loop.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from asyncflow import PokeReturnValue, Sensor

# The engine's bounded worker threads, for the blocking filesystem calls.
from asyncflow.threads import call
from sensors._common import Context, definition_error, short


class FileSensor(Sensor):
    """Wait until ``filepath`` exists; its XCom result is the list of matched paths.

    The list holds every match, sorted. A pattern matching thousands of paths can
    outgrow the XCom size limit (48 KiB by default), which fails the sensor: watch
    a marker file (``_SUCCESS``) or a narrower pattern instead.

    Args:
        filepath: A path or a glob pattern (``*``, ``?``, ``[...]``, and ``**``
            with ``recursive=True``), used as given: a relative path is relative
            to the engine's working directory. As with :func:`glob.glob`, ``*`` does
            not match names starting with a dot; use :func:`glob.escape` for a path
            whose name holds ``*``, ``?`` or ``[``.
        recursive: Let ``**`` match any number of directories.
        fs_conn_id: Accepted so that Airflow DAGs move over unchanged, and ignored:
            asyncflow has no filesystem connections (Airflow's default
            ``fs_default`` has no base path either).
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: ``filepath`` is empty or not a path, or ``recursive``
            is not a bool.

    Example:
        >>> with DAG("ingest"):  # doctest: +SKIP
        ...     landed = FileSensor("/data/in/*.csv", task_id="landed", mode="reschedule")
        ...
        ...     @task
        ...     def load(ti):
        ...         for path in ti.xcom_pull(task_ids="landed"):  # ["/data/in/a.csv", ...]
        ...             ...
        ...
        ...     landed >> load()
    """

    ui_color = "#91818a"

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        *,
        recursive: bool = False,
        fs_conn_id: str = "fs_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        path = os.fspath(filepath) if isinstance(filepath, str | os.PathLike) else None
        if not isinstance(path, str) or not path:
            raise definition_error(
                self.task_id, f"filepath must be a non-empty path, got {short(filepath)}"
            )
        if not isinstance(recursive, bool):
            raise definition_error(
                self.task_id, f"recursive must be True or False, got {short(recursive)}"
            )
        self.filepath = path
        self.recursive = recursive
        self.fs_conn_id = fs_conn_id

    async def poke(self, context: Context) -> bool | PokeReturnValue:
        """Look for matches once (in a worker thread); done when there is one."""
        matches: list[str] = await call(find_matches, self.filepath, recursive=self.recursive)
        if not matches:
            return False
        return PokeReturnValue(True, xcom_value=matches)


def find_matches(pattern: str, *, recursive: bool = False) -> list[str]:
    """The paths matching ``pattern`` that are files or directories holding a file, sorted.

    This blocks on the filesystem: call it from a worker thread.

    Example:
        >>> find_matches("/etc/host*")  # doctest: +SKIP
        ['/etc/host.conf', '/etc/hostname', '/etc/hosts']
    """
    return [
        path
        for path in sorted(glob.glob(pattern, recursive=recursive))
        if os.path.isfile(path) or _holds_a_file(path)
    ]


def _holds_a_file(directory: str) -> bool:
    return any(files for _, _, files in os.walk(directory))
