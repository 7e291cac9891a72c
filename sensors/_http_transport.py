"""The httpx transport of every HTTP connection: one aiohttp connection pool under httpx's API.

Users' checks receive ``httpx.Response`` objects (what Airflow users know from
``requests``), while the requests travel on aiohttp's pool, which costs a
fraction of httpx's own transport in CPU per request (see benchmarks/README.md,
"HTTP sensors"). :class:`PoolTransport` is the seam between the two:

- a request is translated once into a :class:`WireRequest` (aiohttp's URL,
  headers as a multidict that keeps repeated names, the body bytes, the timeouts,
  the proxy; credentials in the URL become its ``Authorization``, as httpx's
  client makes them); a sensor keeps it and sends it again on every poke;
- a response's body is read in one piece and handed to ``httpx.Response``,
  which decodes it (gzip, deflate) as httpx would;
- aiohttp's failures become httpx's, so callers catch ``httpx.TransportError``::

      aiohttp                                  httpx
      ConnectionTimeoutError ................. ConnectTimeout
      ServerTimeoutError, SocketTimeoutError . ReadTimeout
      TimeoutError (any other) ............... TimeoutException
      ClientProxyConnectionError,
        ClientHttpProxyError ................. ProxyError
      ClientConnectorError (refused, DNS, TLS) ConnectError
      ServerDisconnectedError,
        ClientPayloadError,
        ClientResponseError (bad answer) ..... RemoteProtocolError
      ClientConnectionResetError ............. WriteError
      ClientConnectionError (any other) ...... ReadError
      InvalidURL, NonHttpUrlClientError ...... UnsupportedProtocol
      ClientError (any other) ................ TransportError

  The aiohttp error stays the ``__cause__``.

The pool keeps no cookies (it is shared by every task of an engine), follows no
redirects (the httpx client does) and leaves bodies compressed for httpx to
decode. Proxies come from the environment the way ``requests`` and httpx read
them: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``.
"""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

_SCHEMES = frozenset({"http", "https"})
_VERSIONS: dict[tuple[int, int] | None, bytes] = {(1, 1): b"HTTP/1.1", (1, 0): b"HTTP/1.0"}
# Most specific first: the first class the error is an instance of decides.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.TimeoutException),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientConnectionResetError, httpx.WriteError),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.TransportError),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class WireRequest:
    """An ``httpx.Request`` in aiohttp's terms, built once and sent any number of times."""

    method: str
    url: URL
    headers: CIMultiDict[str]  # repeated names kept, in order
    body: bytes | None
    timeout: aiohttp.ClientTimeout
    proxy: URL | None = None
    proxy_headers: CIMultiDict[str] | None = None


class PoolTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over one ``aiohttp.ClientSession`` and its bounded pool.

    Create it on the event loop; ``aclose()`` (or closing the httpx client it is
    given to) closes the pool.

    Args:
        ssl_context: How TLS is verified (see ``sensors._http_client.ssl_context``).
        max_connections: Connections open at once; more requests wait for one.
        keepalive_expiry: Seconds an idle connection is kept for reuse.
        proxies: ``urllib.request.getproxies_environment()``: scheme (or ``all``)
            to proxy URL, and ``no`` for the hosts that bypass them.

    Example:
        >>> transport = PoolTransport(ssl_context=ssl.create_default_context())  # doctest: +SKIP
        >>> async with httpx.AsyncClient(transport=transport) as client:  # doctest: +SKIP
        ...     response = await client.get("http://127.0.0.1:8000/health")
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int = 100,
        keepalive_expiry: float = 15.0,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        connector = aiohttp.TCPConnector(
            limit=max_connections,
            limit_per_host=0,
            keepalive_timeout=keepalive_expiry,
            ssl=ssl_context,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx.Response decodes, as it does on its own transport
            timeout=aiohttp.ClientTimeout(),
        )
        self._proxies = dict(proxies or {})

    def prepare(self, request: httpx.Request) -> WireRequest:
        """``request`` in aiohttp's terms; its body must have been read.

        Raises:
            httpx.UnsupportedProtocol: the URL is not http:// or https://, or has no host.
            httpx.RequestNotRead: a streamed body not read yet (``await request.aread()``).
        """
        url = request.url
        if url.scheme not in _SCHEMES or not url.host:
            raise httpx.UnsupportedProtocol(
                "the URL must start with http:// or https:// and name a host", request=request
            )
        encoding = request.headers.encoding
        headers: CIMultiDict[str] = CIMultiDict(
            (name.decode(encoding), value.decode(encoding))
            for name, value in request.headers.raw
            if name.lower() != b"transfer-encoding"  # the body is sent whole, with its length
        )
        wire_url = URL(str(url), encoded=True)
        if url.userinfo:  # as httpx's client does: the URL's credentials are the request's
            headers["Authorization"] = _basic(url.username, url.password)
            wire_url = wire_url.with_user(None)
        proxy, credentials = self._proxy_for(url)
        proxy_headers = None
        if credentials is not None and url.scheme == "http":
            headers["Proxy-Authorization"] = credentials  # the proxy forwards the request itself
        elif credentials is not None:
            proxy_headers = CIMultiDict({"Proxy-Authorization": credentials})  # with its CONNECT
        return WireRequest(
            method=request.method,
            url=wire_url,
            headers=headers,
            body=request.content or None,
            timeout=_timeout(request.extensions.get("timeout")),
            proxy=proxy,
            proxy_headers=proxy_headers,
        )

    async def send(self, wire: WireRequest, request: httpx.Request) -> httpx.Response:
        """Send ``wire`` (prepared from ``request``) and read the whole response.

        Raises:
            httpx.TransportError: the request failed (see the module's table).
        """
        started = time.perf_counter()
        try:
            answer = await self._session.request(
                wire.method,
                wire.url,
                headers=wire.headers,
                data=wire.body,
                allow_redirects=False,
                timeout=wire.timeout,
                proxy=wire.proxy,
                proxy_headers=wire.proxy_headers,
            )
            body = await answer.read()  # closes the connection itself if reading fails
        except (aiohttp.ClientError, TimeoutError) as error:
            raise transport_error(error, request) from error
        extensions: dict[str, Any] = {
            "http_version": _VERSIONS.get(answer.version, b"HTTP/1.1"),
        }
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode("ascii", "replace")
        response = httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )
        response.read()  # decodes the body: from here on it is an ordinary, read response
        response.elapsed = timedelta(seconds=time.perf_counter() - started)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` (httpx's transport interface, used by ``httpx.AsyncClient``).

        Raises:
            httpx.TransportError: the request failed (see the module's table).
        """
        await request.aread()
        return await self.send(self.prepare(request), request)

    async def aclose(self) -> None:
        """Close the pool and its connections."""
        await self._session.close()

    def _proxy_for(self, url: httpx.URL) -> tuple[URL | None, str | None]:
        """The proxy for ``url`` (None: go direct) and its ``Proxy-Authorization`` value."""
        proxies = self._proxies
        proxy = proxies.get(url.scheme) or proxies.get("all")
        if not proxy or bypasses_proxy(url.host, url.port, proxies.get("no", "")):
            return None, None
        parsed = URL(proxy if "://" in proxy else f"http://{proxy}")
        if parsed.user is None:
            return parsed, None
        return parsed.with_user(None), _basic(parsed.user, parsed.password)


def bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (comma-separated hosts, domain suffixes, ``*``) names ``host``.

    Example:
        >>> [bypasses_proxy(h, None, "localhost, .corp.example") for h in ("api.corp.example",
        ...     "corp.example", "localhost", "example.com")]
        [True, True, True, False]
    """
    host = host.lower()
    for entry in no_proxy.lower().replace(" ", "").split(","):
        if entry == "*":
            return True
        name, _, entry_port = entry.partition(":")
        name = name.lstrip(".")
        if not name or (entry_port and entry_port != str(port)):
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


def transport_error(error: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception for aiohttp's ``error`` (see the module's table).

    Example:
        >>> request = httpx.Request("GET", "http://127.0.0.1:9/")
        >>> type(transport_error(aiohttp.ServerDisconnectedError(), request)).__name__
        'RemoteProtocolError'
    """
    kind = next(
        (mapped for raised, mapped in _ERRORS if isinstance(error, raised)), httpx.TransportError
    )
    return kind(str(error) or type(error).__name__, request=request)


def _basic(user: str | None, password: str | None) -> str:
    token = f"{user or ''}:{password or ''}".encode()
    return f"Basic {base64.b64encode(token).decode('ascii')}"


def _timeout(given: Mapping[str, float | None] | None) -> aiohttp.ClientTimeout:
    """The httpx timeout extension in aiohttp's terms; no write timeout (aiohttp has none).

    aiohttp's ``connect`` covers waiting for a pooled connection plus opening one:
    httpx's ``pool``; ``sock_connect`` is httpx's ``connect``.
    """
    if not given:
        return aiohttp.ClientTimeout()
    return aiohttp.ClientTimeout(
        connect=given.get("pool"),
        sock_connect=given.get("connect"),
        sock_read=given.get("read"),
    )
