"""How commands reach the store: reading it, writing through a client engine, or owning it.

Three ways, by what a command does to runs:

- *read* (``runs list``, ``tasks states``, ``logs``): the store's own reads; the
  database must exist already;
- *client* (``dags trigger``, ``dags pause``, ``dags test``): an
  :class:`~asyncflow.Engine` that knew no DAG when it opened, so it resumed
  none of the runs that the serving process (``asyncflow run``) is driving
  (:func:`open_engine`);
- *own* (``asyncflow run``, ``dags backfill``, ``db reset``): the process holds
  an exclusive lock on ``<database file>.lock`` while it runs, because an engine
  opening a store resumes (takes over) every run left running in it. A second
  owner is refused with one line naming the first.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from asyncflow.cli.common import BadInput, CliConfig, drop_log_events
from asyncflow.dag import DAG
from asyncflow.engine import Engine, ProcessSetup
from asyncflow.storage import mask_url, open_store
from asyncflow.storage.protocol import Store


def database_file(config: CliConfig) -> Path | None:
    """The SQLite file of the store, or ``None`` for a store that is not a file."""
    from asyncflow.storage.sqlite import SqliteStore  # as lazily as open_store imports it

    store = open_store(config.database_url)
    return store.path if isinstance(store, SqliteStore) else None


def require_database(config: CliConfig) -> None:
    """Fail with one line when the SQLite database does not exist yet.

    Raises:
        BadInput: naming the file and how to create it.
    """
    path = database_file(config)
    if path is not None and not path.is_file():
        raise BadInput(
            f"no database at {path}: create it with `asyncflow db init` "
            "(or check --database-url / ASYNCFLOW_DATABASE_URL)"
        )


@asynccontextmanager
async def reading_store(config: CliConfig) -> AsyncIterator[Store]:
    """The store, opened for reads; the database must exist.

    Raises:
        BadInput: when it does not.
    """
    require_database(config)
    store = open_store(config.database_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def paused_dag_ids(config: CliConfig) -> set[str]:
    """The DAGs the store has paused; none when there is no database yet."""
    path = database_file(config)
    if path is not None and not path.is_file():
        return set()
    async with reading_store(config) as store:
        return await store.get_paused_dag_ids()


@asynccontextmanager
async def open_engine(
    config: CliConfig, *, resume: Sequence[DAG] = (), create: bool = False
) -> AsyncIterator[Engine]:
    """An engine that resumes the runs of ``resume`` only; add other DAGs once it is open.

    Opening an engine takes over the runs left running in the store for the DAGs
    it knows, so a client (``dags trigger``) passes none, leaving them to
    ``asyncflow run``, and a backfill passes its one DAG. The command line's
    process is asyncflow's own: the engine makes every process-wide change
    (:meth:`ProcessSetup.everything`), so what a try prints goes to its log.

    Args:
        config: The store and the engine's settings.
        resume: The DAGs whose running runs this engine drives on.
        create: Create the database when missing (else a missing one is a user mistake).
    """
    if not create:
        require_database(config)
    drop_log_events("run_not_resumed")  # the runs it leaves alone are left on purpose
    engine = Engine(
        config.database_url,
        dags=resume,
        settings=config.settings,
        process=ProcessSetup.everything(),
    )
    async with engine:
        yield engine


@contextmanager
def owning_store(config: CliConfig, command: str) -> Iterator[None]:
    """Hold ``<database file>.lock`` for the block, or fail when another process holds it.

    The lock file names its holder (command and pid) for the error of the next
    one. A store that is not a SQLite file needs no lock.

    Raises:
        BadInput: another process owns the store.
    """
    path = database_file(config)
    if path is None:
        yield
        return
    lock = path.with_name(f"{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            raise BadInput(
                f"the store {mask_url(config.database_url)} is in use by {holder}, which "
                f"holds {lock}; one process owns a SQLite store at a time: stop it first "
                "(PostgreSQL, coming later, lets many processes share a store)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{command} (pid {os.getpid()})\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
