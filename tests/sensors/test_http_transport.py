"""The HTTP connections' pool transport on real local servers: what it sends, reads and raises."""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import httpx
import pytest
from aiohttp import web
from http_server import ApiServer, free_port, serving
from multidict import CIMultiDict
from sensor_helpers import LIMIT
from tls import Certificates, issue

from asyncflow import DAG, Engine, TaskState
from sensors import HttpSensor
from sensors._http_client import request_timeout, ssl_context
from sensors._http_transport import PoolTransport, bypasses_proxy, transport_error

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    """A running local server."""
    async with serving(ApiServer()) as server:
        yield server


@pytest.fixture
async def transport() -> AsyncIterator[PoolTransport]:
    """A pool as an HTTP connection opens it, verifying TLS as httpx does by default."""
    pool = PoolTransport(ssl_context=ssl_context(True), max_connections=10)
    yield pool
    await pool.aclose()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test certificate authority and a certificate it signed for 127.0.0.1."""
    return issue(tmp_path_factory.mktemp("tls"))


def client(pool: PoolTransport, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client over ``pool``, with a connection's kind of timeout unless given."""
    return httpx.AsyncClient(**{"transport": pool, "timeout": request_timeout(LIMIT), **kwargs})


async def test_a_response_is_an_ordinary_read_httpx_response(
    api: ApiServer, transport: PoolTransport
) -> None:
    """Status, server reason, headers, body, request, URL, version and elapsed are all set."""
    api.routes["/jobs/7"] = lambda n, _: web.json_response({"state": "done"}, reason="All Done")
    request = httpx.Request("GET", f"{api.url}/jobs/7?full=1", extensions=_timeouts())
    response = await transport.handle_async_request(request)
    assert (response.status_code, response.reason_phrase) == (200, "All Done")
    assert response.json() == {"state": "done"}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.request is request
    assert response.url == httpx.URL(f"{api.url}/jobs/7?full=1")
    assert response.http_version == "HTTP/1.1"
    assert response.elapsed.total_seconds() > 0
    assert response.is_closed


async def test_repeated_header_names_are_kept_both_ways(
    api: ApiServer, transport: PoolTransport
) -> None:
    """Two request headers of one name reach the server in order; two answer headers reach us."""
    api.routes["/tags"] = lambda n, _: web.Response(
        headers=CIMultiDict([("X-Part", "1"), ("X-Part", "2")]), text="ok"
    )
    async with client(transport) as http:
        response = await http.get(f"{api.url}/tags", headers=[("X-Tag", "a"), ("X-Tag", "b")])
    assert api.headers[0].getall("X-Tag") == ["a", "b"]
    assert response.headers.get_list("x-part") == ["1", "2"]


async def test_credentials_in_the_url_become_basic_auth(
    api: ApiServer, transport: PoolTransport
) -> None:
    """A URL's user and password replace any Authorization header, as httpx's client does."""
    request = httpx.Request(
        "GET", f"http://ada:p%40ss@127.0.0.1:{api.port}/me", headers={"Authorization": "Bearer x"}
    )
    await transport.handle_async_request(request)
    assert api.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"ada:p@ss").decode()


async def test_a_request_body_is_sent_and_a_large_body_read_whole(
    api: ApiServer, transport: PoolTransport
) -> None:
    """A POST body arrives as sent, with its length; a 2 MiB answer is read to the last byte."""
    big = os.urandom(2 * 1024 * 1024)
    api.routes["/upload"] = lambda n, _: web.Response(body=big)
    async with client(transport) as http:
        response = await http.post(f"{api.url}/upload", content=b"x" * 1000)
    assert api.bodies[0] == b"x" * 1000
    assert api.headers[0]["Content-Length"] == "1000"
    assert "Transfer-Encoding" not in api.headers[0]
    assert response.content == big


async def test_a_compressed_body_is_decoded_as_httpx_does(
    api: ApiServer, transport: PoolTransport
) -> None:
    """A gzip-encoded answer arrives decoded, with its Content-Encoding header."""
    api.routes["/report"] = lambda n, _: web.Response(
        body=gzip.compress(b'{"rows": 3}'),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    async with client(transport) as http:
        response = await http.get(f"{api.url}/report")
    assert response.json() == {"rows": 3}
    assert response.headers["content-encoding"] == "gzip"


async def test_a_slow_answer_raises_httpx_read_timeout(
    api: ApiServer, transport: PoolTransport
) -> None:
    """A server slower than the read timeout raises httpx.ReadTimeout, aiohttp's error its cause."""
    api.delay = 0.5
    async with client(transport, timeout=httpx.Timeout(0.1, pool=None)) as http:
        with pytest.raises(httpx.ReadTimeout) as info:
            await http.get(f"{api.url}/slow")
    assert isinstance(info.value, httpx.TimeoutException)
    assert isinstance(info.value.__cause__, aiohttp.ServerTimeoutError)
    assert info.value.request.url.path == "/slow"


async def test_a_refused_connection_raises_httpx_connect_error(transport: PoolTransport) -> None:
    """Nothing listening raises httpx.ConnectError, aiohttp's connector error its cause."""
    async with client(transport) as http:
        with pytest.raises(httpx.ConnectError) as info:
            await http.get(f"http://127.0.0.1:{free_port()}/jobs/7")
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)


async def test_a_server_closing_without_an_answer_raises_remote_protocol_error(
    transport: PoolTransport,
) -> None:
    """A server that reads the request and hangs up raises httpx.RemoteProtocolError."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, client(transport) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"http://127.0.0.1:{port}/jobs/7")


async def test_a_url_that_is_not_http_is_refused(transport: PoolTransport) -> None:
    """A request for another scheme raises httpx.UnsupportedProtocol before anything is sent."""
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/file"))


async def test_the_connection_limit_bounds_requests_in_flight(api: ApiServer) -> None:
    """Forty requests at once on a pool of three: three in flight at most, on three sockets."""
    api.delay = 0.02
    pool = PoolTransport(ssl_context=ssl_context(True), max_connections=3)
    async with client(pool) as http, anyio.create_task_group() as group:
        for i in range(40):
            group.start_soon(http.get, f"{api.url}/jobs/{i}")
    assert sum(api.hits.values()) == 40
    assert api.max_in_flight == 3
    assert len(api.peers) == 3


async def test_the_pool_keeps_no_cookies(api: ApiServer, transport: PoolTransport) -> None:
    """A cookie set by one answer is not sent with the next request (the pool is shared)."""

    def set_cookie(n: int, request: web.Request) -> web.Response:
        response = web.Response(text="ok")
        response.set_cookie("session", "s3cret")
        return response

    api.routes["/login"] = set_cookie
    for _ in range(2):
        await transport.handle_async_request(httpx.Request("GET", f"{api.url}/login"))
    assert [h.get("Cookie") for h in api.headers] == [None, None]


async def test_redirects_are_left_to_the_client(api: ApiServer, transport: PoolTransport) -> None:
    """The pool returns a 302 as it is; an httpx client over it follows it."""
    api.routes["/old"] = lambda n, _: web.Response(status=302, headers={"Location": "/new"})
    api.routes["/new"] = lambda n, _: web.Response(text="moved here")
    raw = await transport.handle_async_request(httpx.Request("GET", f"{api.url}/old"))
    assert raw.status_code == 302
    async with client(transport, follow_redirects=True) as http:
        followed = await http.get(f"{api.url}/old")
    assert (followed.text, [r.status_code for r in followed.history]) == ("moved here", [302])


async def test_tls_is_verified_as_the_connection_says(certificates: Certificates) -> None:
    """An unknown authority fails to connect; its CA bundle, or verify=false, lets it through."""
    api = ApiServer()
    api.routes["/secure"] = lambda n, _: web.Response(text="over tls")
    async with serving(api, tls=certificates.server_context()):
        for verify, works in ((True, False), (str(certificates.ca), True), (False, True)):
            pool = PoolTransport(ssl_context=ssl_context(verify))
            async with client(pool) as http:
                if works:
                    assert (await http.get(f"{api.url}/secure")).text == "over tls"
                else:
                    with pytest.raises(httpx.ConnectError) as info:
                        await http.get(f"{api.url}/secure")
                    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorCertificateError)
    assert api.hits["/secure"] == 2


async def test_a_connections_ca_bundle_reaches_its_sensors(
    certificates: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sensor on an https connection with verify=<CA bundle> succeeds; without it, it cannot."""
    api = ApiServer()
    api.routes["/health"] = lambda n, _: web.Response(text="ok")
    async with serving(api, tls=certificates.server_context()):
        monkeypatch.setenv("ASYNCFLOW_CONN_TRUSTED", f"{api.url}?verify={certificates.ca}")
        monkeypatch.setenv("ASYNCFLOW_CONN_UNTRUSTED", api.url)
        with DAG("tls") as built:
            for conn_id in ("trusted", "untrusted"):
                HttpSensor("health", task_id=conn_id, http_conn_id=conn_id, fail_on_transient=True)
        async with Engine("memory://") as engine:
            with anyio.fail_after(LIMIT):
                result = await engine.run(built)
    assert result.ti("trusted").state is TaskState.SUCCESS
    untrusted = result.ti("untrusted")
    assert untrusted.state is TaskState.FAILED
    assert untrusted.error.startswith("HttpError: ClientConnectorCertificateError")


async def test_a_connections_timeout_makes_a_slow_poke_transient(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection's timeout=0.1 against a 0.5 s answer: the poke fails as a read timeout."""
    monkeypatch.setenv("ASYNCFLOW_CONN_HTTP_DEFAULT", f"{api.url}?timeout=0.1")
    api.delay = 0.5
    with DAG("slow") as built:
        HttpSensor("jobs/7", task_id="wait", fail_on_transient=True)
    async with Engine("memory://") as engine:
        with anyio.fail_after(LIMIT):
            ti = (await engine.run(built)).ti("wait")
    assert ti.state is TaskState.FAILED
    assert ti.error.startswith("HttpError: SocketTimeoutError")


async def test_requests_go_through_the_environments_proxy(api: ApiServer) -> None:
    """With a proxy, the proxy gets the absolute URL and its credentials; NO_PROXY goes direct."""
    api.routes["/status"] = lambda n, request: web.Response(text=f"proxied {request.url.host}")
    proxies = {"http": f"http://ada:pw@127.0.0.1:{api.port}", "no": "localhost,.internal"}
    pool = PoolTransport(ssl_context=ssl_context(True), proxies=proxies)
    async with client(pool) as http:
        response = await http.get("http://jobs.example.test/status")
        with pytest.raises(httpx.ConnectError):  # bypassed: straight to a host that is not there
            await http.get(f"http://db.internal:{free_port()}/status")
    assert response.text == "proxied jobs.example.test"
    token = base64.b64encode(b"ada:pw").decode()
    assert api.headers[0]["Proxy-Authorization"] == f"Basic {token}"
    assert api.hits["/status"] == 1


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("api.corp.example", None, ".corp.example", True),
        ("corp.example", None, "corp.example", True),
        ("notcorp.example", None, "corp.example", False),
        ("anything", 80, "*", True),
        ("api.example", 8080, "api.example:8080", True),
        ("api.example", 8443, "api.example:8080", False),
        ("API.Example", None, " api.example , other", True),
        ("api.example", None, "", False),
    ],
)
def test_no_proxy_names_hosts_domains_and_ports(
    host: str, port: int | None, no_proxy: str, bypass: bool
) -> None:
    """NO_PROXY matches a host, its domain suffixes, a host:port, or every host with '*'."""
    assert bypasses_proxy(host, port, no_proxy) is bypass


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("slow to connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("slow to read"), httpx.ReadTimeout),
        (TimeoutError(), httpx.TimeoutException),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut short"), httpx.RemoteProtocolError),
        (aiohttp.ClientConnectionResetError("reset"), httpx.WriteError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), httpx.ReadError),
        (aiohttp.InvalidUrlClientError("http://"), httpx.UnsupportedProtocol),
        (aiohttp.NonHttpUrlClientError("ftp://x"), httpx.UnsupportedProtocol),
        (aiohttp.ClientError("other"), httpx.TransportError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_aiohttp_errors_become_httpx_errors(
    error: BaseException, expected: type[httpx.TransportError]
) -> None:
    """Each aiohttp failure maps to the httpx exception the module's table names."""
    request = httpx.Request("GET", "http://127.0.0.1:9/jobs/7")
    mapped = transport_error(error, request)
    assert type(mapped) is expected
    assert mapped.request is request


def _timeouts() -> dict[str, object]:
    return {"timeout": request_timeout(LIMIT).as_dict()}
