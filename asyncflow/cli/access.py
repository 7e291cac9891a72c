"""How commands reach the store: reading it, asking its owner, or owning it.

Three ways, by what a command does to runs:

- *read* (``runs list``, ``tasks states``, ``logs``): the store's own reads; the
  database must exist already (:func:`reading_store`);
- *ask* (``dags trigger``, ``dags pause``/``unpause``): a request the owning
  engine picks up (a queued run, a pause flag), written through the store
  without owning it, so it works while ``asyncflow run`` serves the store
  (:func:`reading_store` too);
- *own* (``asyncflow run``, ``dags test``, ``dags backfill``, ``db reset``): an
  :class:`~asyncflow.Engine` (:func:`open_engine`) or the reset owns the store
  while it runs, because an engine opening a store resumes (takes over) every
  run left running in it. A SQLite store has one owner: a second is refused
  with one line naming the first (:class:`~asyncflow.exceptions.StoreInUse`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from asyncflow.cli.common import BadInput, drop_log_events
from asyncflow.dag import DAG
from asyncflow.engine import Engine
from asyncflow.settings import Settings
from asyncflow.storage import open_store
from asyncflow.storage.protocol import Store
from asyncflow.storage.records import EngineIdentity
from asyncflow.storage.sqlite.owner_lock import OwnerLock


def database_file(settings: Settings) -> Path | None:
    """The SQLite file of the store, or ``None`` for a store that is not a file."""
    from asyncflow.storage.sqlite import SqliteStore  # as lazily as open_store imports it

    store = open_store(settings.database_url)
    return store.path if isinstance(store, SqliteStore) else None


def require_database(settings: Settings) -> None:
    """Fail with one line when the SQLite database does not exist yet.

    Raises:
        BadInput: naming the file and how to create it.
    """
    path = database_file(settings)
    if path is not None and not path.is_file():
        raise BadInput(
            f"no database at {path}: create it with `asyncflow db init` "
            "(or check --database-url / ASYNCFLOW_DATABASE_URL)"
        )


@asynccontextmanager
async def reading_store(settings: Settings) -> AsyncIterator[Store]:
    """The store, opened for reads; the database must exist.

    Raises:
        BadInput: when it does not.
    """
    require_database(settings)
    store = open_store(settings.database_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def paused_dag_ids(settings: Settings) -> set[str]:
    """The DAGs the store has paused; none when there is no database yet."""
    path = database_file(settings)
    if path is not None and not path.is_file():
        return set()
    async with reading_store(settings) as store:
        return await store.get_paused_dag_ids()


@asynccontextmanager
async def open_engine(
    settings: Settings, *, resume: Sequence[DAG] = (), create: bool = False
) -> AsyncIterator[Engine]:
    """An engine owning the store that resumes the runs of ``resume`` only.

    Opening an engine takes over the runs left running in the store for the DAGs
    it knows: ``dags test`` passes none (another DAG's runs are left for the
    next ``asyncflow run``), a backfill its one DAG. Add other DAGs once it is open.

    Args:
        settings: Where the store is.
        resume: The DAGs whose running runs this engine drives on.
        create: Create the database when missing (else a missing one is a user mistake).

    Raises:
        StoreInUse: another engine owns the store.
    """
    if not create:
        require_database(settings)
    drop_log_events("run_not_resumed")  # the runs it leaves alone are left on purpose
    async with Engine(settings.database_url, dags=resume, settings=settings) as engine:
        yield engine


@contextmanager
def owning_store(settings: Settings) -> Iterator[None]:
    """Own the SQLite store for the block without an engine (a reset); others need nothing.

    Raises:
        StoreInUse: another engine owns the store; the message names it.
    """
    path = database_file(settings)
    if path is None:
        yield
        return
    lock = OwnerLock(path)
    lock.acquire(EngineIdentity.of_this_process())
    try:
        yield
    finally:
        lock.release()
