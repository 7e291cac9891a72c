"""``PostgresUsers``: the web UI's users and tokens in a PostgreSQL store's schema."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from asyncflow.storage.batches import Op
from asyncflow.storage.postgres.connections import Connection, Record
from asyncflow.storage.postgres.sqlfiles import QUERIES
from asyncflow.storage.postgres.store import PostgresStore
from asyncflow.storage.users import Role, TokenRecord, UserRecord


class PostgresUsers:
    """:class:`~asyncflow.storage.users.UserStore` over an open :class:`PostgresStore`."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def create_user(self, user: UserRecord) -> bool:
        """Add a user; ``False`` when the username is taken."""
        row = (user.username, user.password_hash, str(user.role), user.created_at)
        apply = partial(_execute_counting, QUERIES["insert_web_user"], row)
        return bool(await self._store._write(Op("create_user", apply=apply)))

    async def get_user(self, username: str) -> UserRecord | None:
        """The user with this name, or ``None``."""
        rows = await self._store._read("get_user", QUERIES["get_web_user"], username)
        return _user(rows[0]) if rows else None

    async def list_users(self) -> list[UserRecord]:
        """Every user, by username."""
        return [_user(row) for row in await self._store._read("list_users", _LIST)]

    async def delete_user(self, username: str) -> bool:
        """Delete a user and (by the foreign key's cascade) its tokens."""
        apply = partial(_execute_counting, QUERIES["delete_web_user"], (username,))
        return bool(await self._store._write(Op("delete_user", apply=apply)))

    async def add_token(self, token: TokenRecord) -> None:
        """Keep a new API token."""
        row = (token.token_hash, token.username, token.name, token.created_at)
        await self._store._write(Op("add_token", (QUERIES["insert_api_token"],), ([row],)))

    async def find_token(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash, or ``None``."""
        rows = await self._store._read("find_token", QUERIES["get_api_token"], token_hash)
        if not rows:
            return None
        row = rows[0]
        created: datetime = row["created_at"]
        return TokenRecord(
            token_hash=str(row["token_hash"]),
            username=str(row["username"]),
            name=str(row["name"]),
            created_at=created,
        )


_LIST = QUERIES["list_web_users"]


async def _execute_counting(sql: str, row: tuple[object, ...], connection: Connection) -> int:
    status: str = await connection.execute(sql, *row)
    return int(status.rsplit(" ", 1)[-1])


def _user(row: Record) -> UserRecord:
    created: datetime = row["created_at"]
    return UserRecord(
        username=str(row["username"]),
        password_hash=str(row["password_hash"]),
        role=Role(str(row["role"])),
        created_at=created,
    )
