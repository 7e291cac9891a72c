"""``SqliteUsers``: the web UI's users and tokens in a SQLite store's file."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import aiosqlite

from asyncflow.storage.batches import Op
from asyncflow.storage.sqlite.codec import Row
from asyncflow.storage.sqlite.sqlfiles import QUERIES
from asyncflow.storage.sqlite.store import SqliteStore
from asyncflow.storage.users import Role, TokenRecord, UserRecord


class SqliteUsers:
    """:class:`~asyncflow.storage.users.UserStore` over an open :class:`SqliteStore`.

    Writes go through the store's writer (one writer per file), reads through its reader.
    """

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def create_user(self, user: UserRecord) -> bool:
        """Add a user; ``False`` when the username is taken."""
        row = (user.username, user.password_hash, str(user.role), _text(user.created_at))
        apply = partial(_execute_counting, QUERIES["insert_web_user"], row)
        return bool(await self._store._write(Op("create_user", apply=apply)))

    async def get_user(self, username: str) -> UserRecord | None:
        """The user with this name, or ``None``."""
        rows = await self._store._read("get_user", QUERIES["get_web_user"], (username,))
        return _user(rows[0]) if rows else None

    async def list_users(self) -> list[UserRecord]:
        """Every user, by username."""
        return [_user(row) for row in await self._store._read("list_users", _LIST, ())]

    async def delete_user(self, username: str) -> bool:
        """Delete a user and (by the foreign key's cascade) its tokens."""
        apply = partial(_execute_counting, QUERIES["delete_web_user"], (username,))
        return bool(await self._store._write(Op("delete_user", apply=apply)))

    async def add_token(self, token: TokenRecord) -> None:
        """Keep a new API token."""
        row = (token.token_hash, token.username, token.name, _text(token.created_at))
        await self._store._write(Op("add_token", (QUERIES["insert_api_token"],), ([row],)))

    async def find_token(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash, or ``None``."""
        rows = await self._store._read("find_token", QUERIES["get_api_token"], (token_hash,))
        if not rows:
            return None
        hashed, username, name, created = rows[0]
        return TokenRecord(
            token_hash=str(hashed),
            username=str(username),
            name=str(name),
            created_at=datetime.fromisoformat(str(created)),
        )


_LIST = QUERIES["list_web_users"]


async def _execute_counting(sql: str, row: Row, writer: aiosqlite.Connection) -> int:
    cursor = await writer.execute(sql, row)
    return cursor.rowcount


def _text(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _user(row: Row) -> UserRecord:
    username, password_hash, role, created = row
    return UserRecord(
        username=str(username),
        password_hash=str(password_hash),
        role=Role(str(role)),
        created_at=datetime.fromisoformat(str(created)),
    )
