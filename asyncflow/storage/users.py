"""The web UI's users and their API tokens, as a store keeps them.

A user has a role (:class:`Role`) and an argon2 password hash; an API token is
kept only as the SHA-256 of its text, so the database never holds a usable
credential. Deleting a user deletes its tokens. Each backend implements
:class:`UserStore` beside its store (``sqlite/users.py``, ``memory_users.py``)
in tables of its own numbered migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    """What a user may do, each role including the ones below it."""

    VIEWER = "viewer"  # reads everything but secrets
    OP = "op"  # also triggers, clears, marks runs and task instances, wakes sensors
    ADMIN = "admin"  # also pauses DAGs and manages users

    @property
    def rank(self) -> int:
        """Viewer 0, op 1, admin 2: a role may do what any lower one may."""
        return list(Role).index(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRecord:
    """A web user as stored."""

    username: str
    password_hash: str  # argon2, never the password
    role: Role
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """An API token as stored: the SHA-256 of its text, never the text."""

    token_hash: str
    username: str
    name: str  # what the user called it, to recognise it in a list
    created_at: datetime


class UserStore(Protocol):
    """Users and API tokens, kept in the store's database."""

    async def create_user(self, user: UserRecord) -> bool:
        """Add a user; ``False``, changing nothing, when the username is taken."""
        ...

    async def get_user(self, username: str) -> UserRecord | None:
        """The user with this name, or ``None``."""
        ...

    async def list_users(self) -> list[UserRecord]:
        """Every user, by username."""
        ...

    async def delete_user(self, username: str) -> bool:
        """Delete a user and its tokens; ``False`` when there was no such user."""
        ...

    async def add_token(self, token: TokenRecord) -> None:
        """Keep a new API token of an existing user."""
        ...

    async def find_token(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash, or ``None``."""
        ...
