"""The SQLite store: the embedded default, one file, WAL mode, group commit."""

from asyncflow.storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
