"""open_store: choosing a backend by URL, and its errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from asyncflow.exceptions import MissingExtraError, StoreError
from asyncflow.settings import Settings
from asyncflow.storage import mask_url, open_store
from asyncflow.storage.memory import MemoryStore
from asyncflow.storage.postgres import PostgresStore
from asyncflow.storage.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


def test_a_relative_sqlite_path_is_resolved_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///data/af.db names data/af.db under the current directory, as an absolute path."""
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/af.db")
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "data" / "af.db"


def test_an_absolute_sqlite_path_is_used_as_is(tmp_path: Path) -> None:
    """sqlite:////abs/path.db names /abs/path.db."""
    store = open_store(f"sqlite:///{tmp_path}/af.db")
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "af.db"


async def test_the_store_is_returned_unopened_and_opening_creates_the_directory(
    tmp_path: Path,
) -> None:
    """open_store touches nothing on disk; open() creates the missing parent directory."""
    store = open_store(f"sqlite:///{tmp_path}/new/dir/af.db")
    assert not (tmp_path / "new").exists()
    await store.open()
    await store.close()
    assert (tmp_path / "new" / "dir" / "af.db").is_file()


def test_memory_url_gives_a_memory_store() -> None:
    """memory:// gives a new MemoryStore each time."""
    first, second = open_store("memory://"), open_store("memory://")
    assert isinstance(first, MemoryStore)
    assert first is not second


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg", "POSTGRESQL"])
def test_postgresql_urls_give_an_unopened_postgres_store(scheme: str) -> None:
    """Each PostgreSQL scheme gives a PostgresStore, not connected yet, its password masked."""
    store = open_store(f"{scheme}://flow:hunter2@db.example:5432/flows")
    assert isinstance(store, PostgresStore)
    assert store.url == f"{scheme}://flow:***@db.example:5432/flows"
    assert "hunter2" not in repr(store)
    assert "open=False" in repr(store)


def test_a_postgres_store_is_sized_by_the_settings() -> None:
    """The lease ttl and pool sizes come from the settings handed to open_store."""
    settings = Settings.from_env({}, postgres_lease_ttl_seconds=7.5, postgres_pool_max_size=3)
    store = open_store("postgresql://db/flows", settings)
    assert isinstance(store, PostgresStore)
    assert store.lease_ttl == 7.5


def test_postgresql_without_asyncpg_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without asyncpg, a postgresql URL gives a one-line MissingExtraError naming the extra."""
    for name in [name for name in sys.modules if name.startswith("asyncflow.storage.postgres")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # import asyncpg now fails
    with pytest.raises(MissingExtraError) as caught:
        open_store("postgresql://flow:hunter2@db.example:5432/flows")
    message = str(caught.value)
    assert "pip install 'asyncflow[postgres]'" in message
    assert "hunter2" not in message
    assert "\n" not in message
    assert isinstance(caught.value, StoreError)
    assert isinstance(caught.value, ImportError)


def test_an_unknown_scheme_names_it_and_the_accepted_ones() -> None:
    """An unknown scheme raises StoreError naming the scheme and the accepted URL forms."""
    with pytest.raises(StoreError) as caught:
        open_store("mysql://root:topsecret@localhost/flows")
    message = str(caught.value)
    assert "'mysql'" in message
    assert "sqlite:///" in message
    assert "memory://" in message
    assert "postgresql://" in message
    assert "topsecret" not in message
    assert "root:***@localhost" in message


@pytest.mark.parametrize(
    "url",
    [
        "asyncflow.db",
        "sqlite://host/af.db",
        "sqlite:///",
        "sqlite:///:memory:",
        "sqlite:///af.db?mode=ro",
        "memory://somewhere",
        "postgresql:db",
    ],
)
def test_malformed_urls_raise_store_error(url: str) -> None:
    """URLs without a scheme, with a host, without a file, or with extras raise StoreError."""
    with pytest.raises(StoreError):
        open_store(url)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p@ss:w@rd@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://:only@h/db", "postgresql://:***@h/db"),
        ("postgresql://user@h/db", "postgresql://user@h/db"),
        ("postgresql://h:5432/db", "postgresql://h:5432/db"),
        ("sqlite:///a/b.db", "sqlite:///a/b.db"),
        ("postgresql://u@h/db?password=p&x=1", "postgresql://u@h/db?password=***&x=1"),
        (
            "postgresql://u@h/db?sslmode=require&PASSWORD=p",
            "postgresql://u@h/db?sslmode=require&PASSWORD=***",
        ),
    ],
)
def test_mask_url_hides_any_password(url: str, masked: str) -> None:
    """mask_url replaces a password (with '@' or ':' in it, or in the query), nothing else."""
    assert mask_url(url) == masked
