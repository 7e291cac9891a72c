"""Persistence: the Store protocol and its backends, chosen by URL.

``open_store(url)`` picks the backend from the URL's scheme and imports it only
then, so a backend's driver is loaded only by those who use it:

- ``sqlite:///relative/path.db`` (relative to the working directory),
  ``sqlite:////absolute/path.db``: :class:`~asyncflow.storage.sqlite.SqliteStore`;
- ``memory://``: :class:`~asyncflow.storage.memory.MemoryStore`;
- ``postgresql://user:pass@host:port/db`` (also ``postgres://`` and
  ``postgresql+asyncpg://``): :class:`~asyncflow.storage.postgres.PostgresStore`,
  with the ``postgres`` extra (asyncpg) installed; without it,
  :class:`~asyncflow.exceptions.MissingExtraError` says how to install it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from asyncflow.exceptions import MissingExtraError, StoreError
from asyncflow.storage.protocol import Store

if TYPE_CHECKING:
    from asyncflow.settings import Settings
    from asyncflow.storage.postgres import PostgresStore
    from asyncflow.storage.sqlite import SqliteStore

__all__ = ["Store", "mask_url", "open_store"]

_ACCEPTED = "sqlite:///relative/path.db, sqlite:////absolute/path.db, memory://, postgresql://..."
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Everything between "scheme://user:" and the last "@" is treated as the password:
# masking too much is harmless, printing a password is not.
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:).*@")
# A password may also travel as a query parameter (postgresql://u@h/db?password=...).
_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})


def open_store(url: str, settings: Settings | None = None) -> Store:
    """The store a URL names, not opened yet: the caller awaits ``open()``.

    Args:
        url: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
            ``memory://`` or ``postgresql://user:pass@host:port/db``. A
            relative SQLite path is resolved against the current directory
            now; the file and its parent directory are created when the store
            is opened.
        settings: what sizes a PostgreSQL store's pool and leases (default:
            read from the environment).

    Returns:
        A store implementing :class:`~asyncflow.storage.protocol.Store`.

    Raises:
        MissingExtraError: the URL names PostgreSQL and asyncpg is not installed.
        StoreError: the scheme is unknown or the URL is malformed.

    Example:
        >>> store = open_store("sqlite:///asyncflow.db")
        >>> # await store.open(); ...; await store.close()
    """
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme == "sqlite":
        return _sqlite_store(url)
    if scheme == "memory":
        if url.lower() not in ("memory://", "memory:"):
            raise StoreError(f"a memory store URL is just memory://, not {mask_url(url)!r}")
        from asyncflow.storage.memory import MemoryStore

        return MemoryStore()
    if scheme in _POSTGRES_SCHEMES:
        return _postgres_store(url, settings)
    raise StoreError(
        f"unknown store URL scheme {scheme!r} in {mask_url(url)!r}; accepted: {_ACCEPTED}"
    )


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for errors and logs.

    Example:
        >>> mask_url("postgresql://app:s3cret@db:5432/flows")
        'postgresql://app:***@db:5432/flows'
    """
    return _PASSWORD_PARAMETER.sub(r"\1***", _PASSWORD.sub(r"\1***@", url))


def _sqlite_store(url: str) -> SqliteStore:
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix):
        raise StoreError(
            f"a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db "
            f"(no host), not {mask_url(url)!r}"
        )
    raw = url[len(prefix) :]
    if not raw or raw.endswith("/") or "?" in raw or "#" in raw:
        raise StoreError(
            f"a SQLite URL names a database file, with no query or fragment: {mask_url(url)!r}"
        )
    if raw == ":memory:":
        raise StoreError("a SQLite store needs a file; for a store in memory use memory://")
    from asyncflow.storage.sqlite import SqliteStore

    return SqliteStore(Path(raw).absolute())


def _postgres_store(url: str, settings: Settings | None) -> PostgresStore:
    if "://" not in url:
        raise StoreError(
            f"a PostgreSQL URL is postgresql://user:pass@host:port/db, not {mask_url(url)!r}"
        )
    try:
        from asyncflow.storage.postgres import PostgresStore
    except ModuleNotFoundError as exc:
        if exc.name != "asyncpg":
            raise
        raise MissingExtraError(
            f"{mask_url(url)}: the PostgreSQL store needs asyncpg: "
            "pip install 'asyncflow[postgres]'"
        ) from exc
    from asyncflow.settings import Settings

    return PostgresStore.from_settings(url, settings or Settings.from_env())
