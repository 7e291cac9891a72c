"""Finding a store's users, hashing passwords, making API tokens."""

from __future__ import annotations

import hashlib
import secrets
import weakref

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from asyncflow.exceptions import StoreError
from asyncflow.storage.memory import MemoryStore
from asyncflow.storage.memory_users import MemoryUsers
from asyncflow.storage.protocol import Store
from asyncflow.storage.users import UserStore

_hasher = PasswordHasher()
_memory: weakref.WeakKeyDictionary[MemoryStore, MemoryUsers] = weakref.WeakKeyDictionary()

TOKEN_PREFIX = "af_"
"""API tokens start with this, so a leaked one is recognisable in a scan."""


def users_of(store: Store) -> UserStore:
    """The users kept in ``store``'s database.

    Raises:
        StoreError: the store's backend keeps no users (a store of your own).
    """
    if isinstance(store, MemoryStore):
        return _memory.setdefault(store, MemoryUsers())
    from asyncflow.storage.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        from asyncflow.storage.sqlite.users import SqliteUsers

        return SqliteUsers(store)
    try:
        from asyncflow.storage.postgres import PostgresStore
    except ModuleNotFoundError:  # asyncpg is not installed, so this is no PostgreSQL store
        PostgresStore = None  # type: ignore[assignment,misc]
    if PostgresStore is not None and isinstance(store, PostgresStore):
        from asyncflow.storage.postgres.users import PostgresUsers

        return PostgresUsers(store)
    raise StoreError(f"{type(store).__name__} keeps no web users")


def hash_password(password: str) -> str:
    """An argon2id hash of the password (salted, with argon2-cffi's defaults)."""
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A new API token's text: shown once to its user, stored only hashed."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256, hex (tokens are random, so no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()
