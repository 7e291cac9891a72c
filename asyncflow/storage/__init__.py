"""Persistence: the Store protocol and its backends, chosen by URL.

``open_store(url)`` picks the backend from the URL's scheme and imports it only
then, so a backend's driver is loaded only by those who use it:

- ``sqlite:///relative/path.db`` (relative to the working directory),
  ``sqlite:////absolute/path.db``: :class:`~asyncflow.storage.sqlite.SqliteStore`;
- ``memory://``: :class:`~asyncflow.storage.memory.MemoryStore`;
- ``postgresql://user:pass@host:port/db``: the PostgreSQL store, not in this
  version yet (:class:`~asyncflow.exceptions.MissingExtraError`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from asyncflow.exceptions import MissingExtraError, StoreError
from asyncflow.storage.protocol import Store

if TYPE_CHECKING:
    from asyncflow.storage.sqlite import SqliteStore

__all__ = ["Store", "mask_url", "open_store"]

_ACCEPTED = "sqlite:///relative/path.db, sqlite:////absolute/path.db, memory://, postgresql://..."
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Everything between "scheme://user:" and the last "@" is treated as the password:
# masking too much is harmless, printing a password is not.
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:).*@")
_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})


def open_store(url: str) -> Store:
    """The store a URL names, not opened yet: the caller awaits ``open()``.

    Args:
        url: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or
            ``memory://``. A relative SQLite path is resolved against the
            current directory now; the file and its parent directory are
            created when the store is opened.

    Returns:
        A store implementing :class:`~asyncflow.storage.protocol.Store`.

    Raises:
        MissingExtraError: the URL names PostgreSQL, which this version lacks.
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
        raise MissingExtraError(
            f"{mask_url(url)}: the PostgreSQL store comes with "
            "pip install 'asyncflow[postgres]', and it is not available in this version yet"
        )
    raise StoreError(
        f"unknown store URL scheme {scheme!r} in {mask_url(url)!r}; accepted: {_ACCEPTED}"
    )


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for errors and logs.

    Example:
        >>> mask_url("postgresql://app:s3cret@db:5432/flows")
        'postgresql://app:***@db:5432/flows'
    """
    return _PASSWORD.sub(r"\1***@", url)


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
