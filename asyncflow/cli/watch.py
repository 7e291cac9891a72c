"""Keeping a serving engine's DAGs in step with the DAG folder.

:class:`DagFolderWatch` waits for file changes with watchfiles (inotify and its
equivalents, no polling of our own), loads the folder again in a worker thread
(DAG files are user code and may take long to import) and applies the
difference: new and changed DAGs are added, DAGs whose file is gone (or no longer
defines them) are removed. A file that fails to import keeps its DAGs as they
were last loaded, so a half-saved edit does not stop a schedule; its error is
logged once.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import anyio.to_thread
from watchfiles import Change, DefaultFilter, awatch

from asyncflow.dag import DAG
from asyncflow.dag_loader import IGNORE_FILE, DagBag, load_dags
from asyncflow.engine import Engine
from asyncflow.exceptions import AsyncflowError
from asyncflow.log import get_logger

log = get_logger("asyncflow.cli.serve")


class _DagFolderFilter(DefaultFilter):
    """Python files and ignore files; and any deletion (a whole folder may go at once)."""

    def __call__(self, change: Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        return (
            change is Change.deleted
            or path.endswith(".py")
            or os.path.basename(path) == IGNORE_FILE
        )


class DagFolderWatch:
    """Adds, replaces and removes an engine's DAGs as the files of its DAG folder change.

    Args:
        engine: The open engine to keep in step.
        folder: The DAG folder.
        bag: What the folder held when the engine opened (its DAGs are the engine's).
    """

    def __init__(self, engine: Engine, folder: Path, bag: DagBag) -> None:
        self.engine = engine
        self.folder = folder
        self.dags: dict[str, DAG] = dict(bag.dags)
        self.errors: dict[str, str] = {}
        self._log_errors(bag.errors)
        self._stop = anyio.Event()

    async def run(self) -> None:
        """Watch until :meth:`stop` or cancelled; each batch of changes reloads the folder once."""
        async for changes in awatch(
            self.folder, watch_filter=_DagFolderFilter(), stop_event=self._stop, rust_timeout=1_000
        ):
            log.debug("dag_folder_changed", files=sorted(path for _, path in changes))
            try:
                bag = await anyio.to_thread.run_sync(load_dags, self.folder)
            except OSError as error:
                log.error("dag_folder_unreadable", folder=str(self.folder), error=str(error))
                continue
            self.apply(bag)

    def stop(self) -> None:
        """End :meth:`run` within a few milliseconds.

        Cancelling alone would wait for the watching thread's next timeout.
        """
        self._stop.set()

    def apply(self, bag: DagBag) -> None:
        """Make the engine's DAGs those of ``bag``, keeping the DAGs of files that now fail."""
        self._log_errors(bag.errors)
        kept = {
            dag_id: dag
            for dag_id, dag in self.dags.items()
            if dag_id not in bag.dags and dag.fileloc in bag.errors
        }
        for dag_id, dag in bag.dags.items():
            try:
                self.engine.add_dag(dag)
            except AsyncflowError as error:
                log.error("dag_not_added", dag_id=dag_id, file=dag.fileloc, error=str(error))
                continue
            if dag_id not in self.dags:
                log.info("dag_added", dag_id=dag_id, file=dag.fileloc)
        for dag_id in set(self.dags) - set(bag.dags) - set(kept):
            self.engine.remove_dag(dag_id)
            log.info("dag_removed", dag_id=dag_id, file=self.dags[dag_id].fileloc)
        self.dags = {**kept, **bag.dags}

    def _log_errors(self, errors: dict[str, str]) -> None:
        """Log each import error once, when it appears or changes."""
        for file, error in errors.items():
            if self.errors.get(file) != error:
                log.warning("dag_file_import_failed", file=file, error=error)
        self.errors = dict(errors)
