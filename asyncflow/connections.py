"""Named connections from the environment, and one shared client per connection.

A connection ``my_api`` comes from the variable ``ASYNCFLOW_CONN_MY_API`` holding a
URI, as in Airflow::

    ASYNCFLOW_CONN_HTTP_DEFAULT='https://user:secret@api.example.com:8443/v1?timeout=10'
    ASYNCFLOW_CONN_AWS_DEFAULT='aws://?region_name=us-east-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A5000'

The password (and extras whose name says secret, token, key or password) never
appear in a repr, a log line or an error message.

:func:`shared` gives every sensor and operator of an engine one client per key
(one ``httpx.AsyncClient`` per HTTP connection, one AWS client per connection and
service), created on first use and closed when the engine stops.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio

from asyncflow.exceptions import ConnectionConfigError, EngineError

T = TypeVar("T")

_SECRET_EXTRA = re.compile(r"secret|token|password|passwd|key|credential|auth", re.IGNORECASE)
_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """One named connection: where a service is and how to authenticate to it."""

    conn_id: str
    conn_type: str  # the URI scheme: http, https, aws, ...
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    path: str = ""  # the URI path, e.g. a base path for an HTTP API
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        shown = {k: ("***" if _SECRET_EXTRA.search(k) else v) for k, v in self.extra.items()}
        secret = ", password='***'" if self.password else ""
        return (
            f"Connection(conn_id={self.conn_id!r}, conn_type={self.conn_type!r}, "
            f"host={self.host!r}, port={self.port!r}, login={self.login!r}{secret}, "
            f"path={self.path!r}, extra={shown!r})"
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown (for log redaction)."""
        values = [self.password] if self.password else []
        values += [v for k, v in self.extra.items() if _SECRET_EXTRA.search(k) and v]
        return tuple(values)

    def base_url(self, default_scheme: str = "http") -> str:
        """``scheme://host[:port][path]`` (for HTTP connections)."""
        scheme = self.conn_type if self.conn_type in ("http", "https") else default_scheme
        if not self.host:
            raise ConnectionConfigError(f"connection {self.conn_id!r} has no host")
        port = f":{self.port}" if self.port else ""
        return f"{scheme}://{self.host}{port}{self.path}"


def env_var(conn_id: str) -> str:
    """The environment variable holding ``conn_id``: ``ASYNCFLOW_CONN_<ID upper-cased>``."""
    return "ASYNCFLOW_CONN_" + re.sub(r"[^A-Za-z0-9]", "_", conn_id).upper()


def get_connection(conn_id: str, env: Mapping[str, str] | None = None) -> Connection:
    """The connection ``conn_id``, read from its environment variable.

    Raises:
        ConnectionConfigError: when the variable is unset or its URI does not parse; the
            message names the connection and the variable, never the URI.

    Example:
        >>> get_connection("aws_default").extra["region_name"]  # doctest: +SKIP
        'us-east-1'
    """
    if not isinstance(conn_id, str) or not _ID.match(conn_id):
        raise ConnectionConfigError(f"invalid connection id {conn_id!r}")
    variable = env_var(conn_id)
    uri = (os.environ if env is None else env).get(variable)
    if not uri:
        raise ConnectionConfigError(
            f"connection {conn_id!r} is not defined: set {variable} to its URI "
            "(e.g. 'http://host:port' or 'aws://?region_name=...')"
        )
    return parse_uri(conn_id, uri)


def all_secrets(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The secrets of every connection in the environment (to mask them in logs)."""
    found: list[str] = []
    for name, uri in (os.environ if env is None else env).items():
        if name.startswith("ASYNCFLOW_CONN_") and uri:
            try:
                found.extend(parse_uri(name[len("ASYNCFLOW_CONN_") :].lower(), uri).secrets)
            except ConnectionConfigError:
                continue
    return tuple(found)


def parse_uri(conn_id: str, uri: str) -> Connection:
    """Parse an Airflow-style connection URI (values are percent-decoded).

    Raises:
        ConnectionConfigError: naming the connection, never echoing the URI.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as error:
        raise ConnectionConfigError(
            f"connection {conn_id!r} has a URI that does not parse: {_without_uri(error)}"
        ) from None
    if not parts.scheme:
        raise ConnectionConfigError(
            f"connection {conn_id!r} has a URI without a scheme (like http:// or aws://)"
        )
    return Connection(
        conn_id=conn_id,
        conn_type=parts.scheme.lower().replace("-", "_"),
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        path=unquote(parts.path) if parts.path not in ("", "/") else "",
        extra=dict(parse_qsl(parts.query, keep_blank_values=True)),
    )


def _without_uri(error: ValueError) -> str:
    return "the port is not a number" if "port" in str(error).lower() else "malformed URI"


# --- shared clients ------------------------------------------------------------------
class SharedResources:
    """One object per key for an engine's lifetime (a client, a session), closed with it."""

    def __init__(self) -> None:
        self._stack = AsyncExitStack()
        self._items: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, anyio.Lock] = {}
        self.opened = 0  # how many were created (tests prove sharing with it)

    async def get(self, key: Hashable, open_: Callable[[], AbstractAsyncContextManager[T]]) -> T:
        """The object for ``key``, entering ``open_()`` the first time only."""
        if key in self._items:
            return self._items[key]  # type: ignore[no-any-return]
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            if key not in self._items:
                self._items[key] = await self._stack.enter_async_context(open_())
                self.opened += 1
        return self._items[key]  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Close everything, newest first."""
        self._items.clear()
        await self._stack.aclose()


current_resources: ContextVar[SharedResources | None] = ContextVar(
    "asyncflow_shared_resources", default=None
)


async def shared(key: Hashable, open_: Callable[[], AbstractAsyncContextManager[T]]) -> T:
    """The running engine's object for ``key`` (one per engine), created on first use.

    Raises:
        EngineError: outside a running engine.

    Example:
        >>> client = await shared(("http", "http_default"), lambda: httpx.AsyncClient())
        ... # doctest: +SKIP
    """
    resources = current_resources.get()
    if resources is None:
        raise EngineError("shared clients exist only inside a running engine")
    return await resources.get(key, open_)


@asynccontextmanager
async def resources_scope() -> AsyncIterator[SharedResources]:
    """Make a fresh :class:`SharedResources` current for the block; closed at its end."""
    resources = SharedResources()
    token = current_resources.set(resources)
    try:
        yield resources
    finally:
        current_resources.reset(token)
        with anyio.CancelScope(shield=True):
            await resources.aclose()
