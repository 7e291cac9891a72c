"""A real HTTP server on 127.0.0.1 for the HTTP sensor tests, counting what it is asked.

Each test scripts the answers per path: a route gets the number of requests
that path has had (this one included) and the request, and returns a response.
The server counts requests per path, the requests in flight at once (their
maximum too), the distinct client sockets, and keeps every request's headers.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

Route = Callable[[int, web.Request], web.Response]
BODY = web.RequestKey("body", bytes)  # the request's body, read for the routes


class ApiServer:
    """The scripted answers and the counters of one test's server."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.peers: set[Any] = set()
        self.headers: list[CIMultiDict[str]] = []  # names are case-insensitive
        self.bodies: list[bytes] = []
        self.delay = 0.0  # seconds each answer takes, to make requests overlap
        self.port = 0
        self.scheme = "http"  # https when served with a TLS context

    @property
    def url(self) -> str:
        """The base URL of the server."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Count the request, wait ``delay``, answer from the path's route (404 without one)."""
        self.hits[request.path] += 1
        count = self.hits[request.path]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername"))
        self.headers.append(CIMultiDict(request.headers))
        request[BODY] = await request.read()  # for routes, which are not async
        self.bodies.append(request[BODY])
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            route = self.routes.get(request.path)
            if route is None:
                return web.Response(status=404, text=f"no route {request.path}")
            return route(count, request)
        finally:
            self.in_flight -= 1


@asynccontextmanager
async def serving(
    api: ApiServer, port: int = 0, tls: ssl.SSLContext | None = None
) -> AsyncIterator[ApiServer]:
    """Serve ``api`` on 127.0.0.1 (an ephemeral port unless given; HTTPS with ``tls``)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True, ssl_context=tls)
        await site.start()
        api.port = runner.addresses[0][1]
        api.scheme = "http" if tls is None else "https"
        yield api
    finally:
        await runner.cleanup()


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening on it (for "connection refused")."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
