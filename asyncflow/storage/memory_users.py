"""``MemoryUsers``: :class:`~asyncflow.storage.users.UserStore` in a dict, for tests."""

from __future__ import annotations

from asyncflow.storage.users import TokenRecord, UserRecord


class MemoryUsers:
    """Users and tokens in memory, lost when the process ends."""

    def __init__(self) -> None:
        self._users: dict[str, UserRecord] = {}
        self._tokens: dict[str, TokenRecord] = {}

    async def create_user(self, user: UserRecord) -> bool:
        """Add a user; ``False`` when the username is taken."""
        if user.username in self._users:
            return False
        self._users[user.username] = user
        return True

    async def get_user(self, username: str) -> UserRecord | None:
        """The user with this name, or ``None``."""
        return self._users.get(username)

    async def list_users(self) -> list[UserRecord]:
        """Every user, by username."""
        return [self._users[name] for name in sorted(self._users)]

    async def delete_user(self, username: str) -> bool:
        """Delete a user and its tokens."""
        if self._users.pop(username, None) is None:
            return False
        self._tokens = {k: t for k, t in self._tokens.items() if t.username != username}
        return True

    async def add_token(self, token: TokenRecord) -> None:
        """Keep a new API token."""
        self._tokens[token.token_hash] = token

    async def find_token(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash, or ``None``."""
        return self._tokens.get(token_hash)
