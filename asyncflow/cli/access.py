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

from asyncflow.cli.common import BadInput, CliConfig, drop_log_events
from asyncflow.dag import DAG
from asyncflow.engine import Engine, ProcessSetup
from asyncflow.records import EngineIdentity
from asyncflow.storage import open_store
from asyncflow.storage.protocol import Store
from asyncflow.storage.sqlite.owner_lock import OwnerLock


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
    """An engine owning the store that resumes the runs of ``resume`` only.

    Opening an engine takes over the runs left running in the store for the DAGs
    it knows: ``dags test`` passes none (another DAG's runs are left for the
    next ``asyncflow run``), a backfill its one DAG. Add other DAGs once it is open.
    The command line's process is asyncflow's own: the engine makes every
    process-wide change (:meth:`ProcessSetup.everything`), so what a try prints
    goes to its log.

    Args:
        config: The store and the engine's settings.
        resume: The DAGs whose running runs this engine drives on.
        create: Create the database when missing (else a missing one is a user mistake).

    Raises:
        StoreInUse: another engine owns the store.
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
def owning_store(config: CliConfig) -> Iterator[None]:
    """Own the SQLite store for the block without an engine (a reset); others need nothing.

    Raises:
        StoreInUse: another engine owns the store; the message names it.
    """
    path = database_file(config)
    if path is None:
        yield
        return
    lock = OwnerLock(path)
    lock.acquire(EngineIdentity.of_this_process())
    try:
        yield
    finally:
        lock.release()
