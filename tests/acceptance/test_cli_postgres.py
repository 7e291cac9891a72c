"""The command line on a PostgreSQL store: db init, upgrade and reset, and a DAG run on it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from cli_helpers import assert_one_line_error, asyncflow
from postgres_server import fresh_schema_for_commands

from asyncflow.records import DagRunRecord, EngineIdentity
from asyncflow.storage import mask_url
from asyncflow.storage.postgres import PostgresStore

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def url() -> Iterator[str]:
    """A store URL in a fresh schema of the test server."""
    with fresh_schema_for_commands() as url:
        yield url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """ASYNCFLOW_HOME with one example DAG."""
    dags = tmp_path / "home" / "dags"
    dags.mkdir(parents=True)
    shutil.copy(EXAMPLES / "pass_data_by_return.py", dags / "pass_data_by_return.py")
    return tmp_path / "home"


def runs_in(url: str) -> list[DagRunRecord]:
    """The runs stored at ``url``, read directly."""

    async def read() -> list[DagRunRecord]:
        store = PostgresStore(url)
        await store.open()
        try:
            return await store.list_runs()
        finally:
            await store.close()

    return anyio.run(read)


def test_db_upgrade_applies_the_pending_migrations_and_names_them(home: Path, url: str) -> None:
    """`db upgrade` on an empty schema applies every migration, then finds nothing to do."""
    first = asyncflow(home, "db", "upgrade", ASYNCFLOW_DATABASE_URL=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        f"Applied 3 migration(s) to {url}: 0001_initial.sql, 0002_sharing.sql, 0003_web_users.sql"
    )
    again = asyncflow(home, "db", "upgrade", ASYNCFLOW_DATABASE_URL=url)
    assert again.stdout.strip() == f"Database up to date: {url}"


def test_db_init_then_a_dag_run_then_reset_empties_the_store(home: Path, url: str) -> None:
    """`db init` readies the schema, `dags test` runs on it, `db reset --yes` empties it."""
    init = asyncflow(home, "db", "init", "--database-url", url)
    assert init.stdout.strip() == f"Database ready: {url}", init.stderr
    ran = asyncflow(home, "dags", "test", "pass_data_by_return", ASYNCFLOW_DATABASE_URL=url)
    assert ran.returncode == 0, ran.stderr
    assert [run.state for run in runs_in(url)] == ["success"]
    reset = asyncflow(home, "db", "reset", "--yes", ASYNCFLOW_DATABASE_URL=url)
    assert reset.stdout.strip() == f"Database reset: {url}", reset.stderr
    assert runs_in(url) == []


def test_db_reset_is_refused_while_an_engine_holds_a_lease(home: Path, url: str) -> None:
    """`db reset --yes` exits 2 naming the engine with a live lease, and deletes nothing."""
    engine = EngineIdentity.of_this_process()

    async def hold_then_reset() -> tuple[int, str]:
        store = PostgresStore(url)
        await store.open()
        try:
            await store.acquire(engine)
            done = await anyio.to_thread.run_sync(
                lambda: asyncflow(home, "db", "reset", "--yes", ASYNCFLOW_DATABASE_URL=url)
            )
        finally:
            await store.close()
        assert_one_line_error(done, "in use by 1 engine(s)", f"pid {engine.pid}")
        return done.returncode, done.stderr

    code, _ = anyio.run(hold_then_reset)
    assert code == 2


def test_a_password_in_the_url_is_never_printed(home: Path) -> None:
    """An unreachable server's error is one line with the password masked."""
    bad = "postgresql://flow:hunter2@127.0.0.1:1/flows"
    done = asyncflow(home, "db", "init", ASYNCFLOW_DATABASE_URL=bad, ASYNCFLOW_POSTGRES_RETRIES="0")
    assert done.returncode == 1
    assert "hunter2" not in done.stdout + done.stderr
    assert mask_url(bad) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
