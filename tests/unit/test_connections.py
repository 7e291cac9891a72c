"""Connections from ASYNCFLOW_CONN_* URIs, secrets kept out of sight, and shared clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
import pytest

from asyncflow import DAG, Engine, task
from asyncflow.connections import env_var, get_connection, shared
from asyncflow.exceptions import ConnectionConfigError, EngineError

pytestmark = pytest.mark.anyio


def test_aws_uri_with_percent_encoded_extras() -> None:
    """The documented example parses: region and endpoint come back decoded."""
    env = {
        "ASYNCFLOW_CONN_AWS_DEFAULT": "aws://?region_name=us-east-1"
        "&endpoint_url=http%3A%2F%2F127.0.0.1%3A5000"
    }
    conn = get_connection("aws_default", env)
    assert conn.conn_type == "aws"
    assert conn.extra == {"region_name": "us-east-1", "endpoint_url": "http://127.0.0.1:5000"}


def test_http_uri_gives_base_url_login_and_password() -> None:
    """An HTTP URI keeps its host, port, path and credentials."""
    env = {"ASYNCFLOW_CONN_MY_API": "https://ada:s%40cret@api.example.com:8443/v1?timeout=10"}
    conn = get_connection("my_api", env)
    assert conn.base_url() == "https://api.example.com:8443/v1"
    assert (conn.login, conn.password) == ("ada", "s@cret")
    assert conn.extra == {"timeout": "10"}


def test_repr_never_shows_secrets() -> None:
    """The password and secret-named extras are masked in repr."""
    env = {"ASYNCFLOW_CONN_X": "aws://AKID:topsecret@/?aws_secret_access_key=hush&region_name=eu"}
    conn = get_connection("x", env)
    shown = repr(conn)
    assert "topsecret" not in shown
    assert "hush" not in shown
    assert "eu" in shown
    assert set(conn.secrets) == {"topsecret", "hush"}


def test_missing_connection_names_the_id_and_variable() -> None:
    """An undefined connection fails with one line naming it and its variable."""
    with pytest.raises(ConnectionConfigError) as info:
        get_connection("warehouse", {})
    assert str(info.value).startswith(
        "connection 'warehouse' is not defined: set ASYNCFLOW_CONN_WAREHOUSE to its URI"
    )


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("no-scheme-here", "has a URI without a scheme"),
        ("http://user:pw@host:notaport/x", "the port is not a number"),
    ],
)
def test_unparsable_uri_names_the_id_but_not_the_uri(uri: str, fragment: str) -> None:
    """A bad URI fails naming the connection, without echoing the URI (it may hold secrets)."""
    with pytest.raises(ConnectionConfigError) as info:
        get_connection("broken", {"ASYNCFLOW_CONN_BROKEN": uri})
    assert "connection 'broken'" in str(info.value)
    assert fragment in str(info.value)
    assert "pw" not in str(info.value)


def test_env_var_name() -> None:
    """Ids are upper-cased, other characters become underscores."""
    assert env_var("my-api.v2") == "ASYNCFLOW_CONN_MY_API_V2"


async def test_shared_needs_a_running_engine() -> None:
    """shared() outside an engine says so."""
    with pytest.raises(EngineError, match="inside a running engine"):
        await shared("k", counting_client)


opened: list[str] = []
closed: list[str] = []


@asynccontextmanager
async def counting_client() -> AsyncIterator[str]:
    """A stand-in client that records when it is opened and closed."""
    opened.append("client")
    try:
        yield "client"
    finally:
        closed.append("client")


async def test_one_shared_client_for_many_tasks_closed_with_the_engine() -> None:
    """200 concurrent tasks asking for one key get one client, closed when the engine stops."""
    opened.clear()
    closed.clear()
    with DAG("clients") as built:

        @task
        async def use(i: int) -> str:
            await anyio.lowlevel.checkpoint()
            return await shared(("svc", "conn"), counting_client)

        use.expand(i=list(range(200)))
    async with Engine("memory://", dags=[built]) as engine:
        with anyio.fail_after(10):
            result = await engine.run("clients")
        assert engine.resources.opened == 1
        assert closed == []
    assert result.xcom("use", map_index=199) == "client"
    assert opened == ["client"]
    assert closed == ["client"]
