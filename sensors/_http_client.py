"""HTTP connections: their settings, and the one pooled client each engine keeps per connection.

An HTTP connection is an ``ASYNCFLOW_CONN_<ID>`` URI (see :mod:`asyncflow.connections`)::

    ASYNCFLOW_CONN_JOBS_API='https://ada:s3cret@jobs.example.com:8443/api/v2?timeout=10&max_connections=50&header.X-Api-Key=abc123'

- scheme, host, port and path: the base URL every endpoint is joined to;
- login and password: HTTP basic auth, sent on every request;
- ``header.<Name>=<value>`` (repeat it for more headers): headers sent on every request;
- ``timeout``: seconds for connecting, each read and each write (default 30);
- ``verify``: ``true`` (default), ``false``, or the path of a CA bundle;
- ``max_connections``: at most this many requests in flight on this connection
  at once (default 100); the others wait for a free connection.

Any other extra is refused, so a misspelt ``timout`` fails loudly instead of
being ignored. Every problem fails the task with one line naming the connection,
never echoing the URI (it may hold secrets).

Each engine keeps one :class:`HttpSession` per connection for its lifetime
(:func:`session_for`): an ``httpx.AsyncClient`` on a
:class:`~sensors._http_transport.PoolTransport`, one aiohttp connection pool
that every sensor and operator of that connection shares. Neither keeps
cookies: they are shared by every task of the engine, so a cookie set for one
must not reach the others.
"""

from __future__ import annotations

import base64
import ssl
import urllib.request
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx

from asyncflow import AsyncflowError, FailTask
from asyncflow.connections import Connection, get_connection, shared

# The engine's bounded worker threads: loading a CA bundle reads files.
from asyncflow.threads import call
from sensors._http_transport import PoolTransport

DEFAULT_TIMEOUT = 30.0  # seconds, for connect, each read and each write
DEFAULT_MAX_CONNECTIONS = 100
# Idle pooled connections live this long (aiohttp's own default); longer than the
# usual poke interval, so steady polling reuses its connections.
KEEPALIVE_SECONDS = 15.0
_HEADER_PREFIX = "header."
_KNOWN_EXTRAS = "header.<Name>, max_connections, timeout, verify"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})

Verify = bool | str  # a CA bundle path when a string


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpConfig:
    """What an HTTP connection says, checked: where the API is and how to call it."""

    conn_id: str
    base_url: str
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    verify: Verify = True
    timeout: float = DEFAULT_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    secrets: tuple[str, ...] = field(default=(), repr=False)  # never shown anywhere


def http_config(connection: Connection, *, verify: Verify | None = None) -> HttpConfig:
    """Read an HTTP connection's settings; ``verify`` (if given) overrides the connection's.

    Raises:
        FailTask: one line naming the connection and what is wrong with it.

    Example:
        >>> from asyncflow.connections import parse_uri
        >>> config = http_config(parse_uri("api", "http://ada:pw@127.0.0.1:8000/v1?timeout=5"))
        >>> (config.base_url, config.timeout, dict(config.headers)["Authorization"])
        ('http://127.0.0.1:8000/v1', 5.0, 'Basic YWRhOnB3')
    """
    conn_id = connection.conn_id
    if connection.conn_type not in ("http", "https"):
        raise _config_error(
            conn_id,
            f"is of type {connection.conn_type!r}; an HTTP connection's URI starts "
            "with http:// or https://",
        )
    headers: list[tuple[str, str]] = []
    settings: dict[str, str] = {}
    for name, value in connection.extra.items():
        if name.startswith(_HEADER_PREFIX) and len(name) > len(_HEADER_PREFIX):
            headers.append((name[len(_HEADER_PREFIX) :], value))
        elif name in ("timeout", "verify", "max_connections"):
            settings[name] = value
        else:
            raise _config_error(conn_id, f"has an unknown extra {name!r} (known: {_KNOWN_EXTRAS})")
    secrets = list(connection.secrets)
    if connection.login is not None or connection.password is not None:
        token = _basic_token(connection.login or "", connection.password or "")
        headers.append(("Authorization", f"Basic {token}"))
        secrets.append(token)
    try:
        base_url = connection.base_url()
    except AsyncflowError as error:
        raise FailTask(str(error)) from None
    return HttpConfig(
        conn_id=conn_id,
        base_url=base_url,
        headers=tuple(headers),
        verify=_verify(conn_id, settings.get("verify")) if verify is None else verify,
        timeout=_positive_number(conn_id, "timeout", settings.get("timeout"), DEFAULT_TIMEOUT),
        max_connections=_max_connections(conn_id, settings.get("max_connections")),
        secrets=tuple(secrets),
    )


@dataclass(frozen=True, slots=True, eq=False)
class HttpSession:
    """One connection's pooled client, shared by every task of an engine.

    ``transport`` is the client's connection pool. A sensor's poke sends its
    request, prepared once, straight to it (:meth:`PoolTransport.send`),
    skipping the client's per-request redirect, auth-flow and cookie machinery,
    which costs more CPU than the request itself; operators and redirects go
    through ``client``.
    """

    config: HttpConfig
    client: httpx.AsyncClient
    transport: PoolTransport


async def session_for(conn_id: str, *, verify: Verify | None = None) -> HttpSession:
    """The running engine's session for connection ``conn_id``, opened on first use.

    A ``verify`` that overrides the connection's gets a pool of its own (a pool
    verifies TLS one way for all its connections).

    Raises:
        FailTask: the connection is not defined or not a valid HTTP connection.

    Example:
        >>> session = await session_for("http_default")  # doctest: +SKIP
    """
    key: Hashable = ("http", conn_id) if verify is None else ("http", conn_id, "verify", verify)
    return await shared(key, lambda: _open_session(conn_id, verify))


@asynccontextmanager
async def _open_session(conn_id: str, verify: Verify | None) -> AsyncIterator[HttpSession]:
    try:
        connection = get_connection(conn_id)
    except AsyncflowError as error:  # not defined, or a URI that does not parse
        raise FailTask(str(error)) from None
    config = http_config(connection, verify=verify)
    context = await call(ssl_context, config.verify)  # reads CA files: off the event loop
    transport = PoolTransport(
        ssl_context=context,
        max_connections=config.max_connections,
        keepalive_expiry=KEEPALIVE_SECONDS,
        proxies=urllib.request.getproxies_environment(),
    )
    client = httpx.AsyncClient(
        base_url=config.base_url,
        headers=list(config.headers),
        cookies=httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))),
        timeout=request_timeout(config.timeout),
        follow_redirects=True,
        transport=transport,
        trust_env=False,  # the transport reads the environment's proxies itself
    )
    async with client:  # closes the transport too
        yield HttpSession(config=config, client=client, transport=transport)


def ssl_context(verify: Verify) -> ssl.SSLContext:
    """How a pool verifies TLS: a CA bundle's path, ``True`` (httpx's default CAs) or ``False``.

    ``True`` trusts what httpx trusts: ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when
    set, else certifi's bundle. It reads files, so call it off the event loop.

    Example:
        >>> ssl_context(False).verify_mode is ssl.CERT_NONE
        True
    """
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify)


def request_timeout(seconds: float) -> httpx.Timeout:
    """``seconds`` for connecting, reading and writing; no limit on waiting for the pool.

    The pool wait is how ``max_connections`` bounds concurrency: a queue of pokes
    behind busy connections is not a failure of the server.
    """
    return httpx.Timeout(seconds, pool=None)


def _basic_token(login: str, password: str) -> str:
    return base64.b64encode(f"{login}:{password}".encode()).decode("ascii")


def _verify(conn_id: str, value: str | None) -> Verify:
    if value is None or value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    if not Path(value).is_file():
        raise _config_error(
            conn_id, "has a verify that is neither true, false nor an existing CA bundle file"
        )
    return value


def _positive_number(conn_id: str, name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number < float("inf"):
        raise _config_error(conn_id, f"has {name}={value!r}; it must be a positive number")
    return number


def _max_connections(conn_id: str, value: str | None) -> int:
    if value is None:
        return DEFAULT_MAX_CONNECTIONS
    if not value.isdigit() or int(value) < 1:
        raise _config_error(
            conn_id, f"has max_connections={value!r}; it must be a whole number >= 1"
        )
    return int(value)


def _config_error(conn_id: str, what: str) -> FailTask:
    return FailTask(f"connection {conn_id!r} {what}")
