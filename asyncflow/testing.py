"""Helpers for testing DAGs and engine code without a database.

``MemoryStore`` passes the same conformance suite as the SQLite store
(``tests/storage``), so a test run against it tells the truth about the real
backends.

Example:
    >>> from asyncflow.testing import MemoryStore
    >>> store = MemoryStore()  # pass to Engine(store=store); open() is awaited by the engine
"""

from __future__ import annotations

from asyncflow.storage.memory import MemoryStore

__all__ = ["MemoryStore"]
