"""The shared AWS clients: one per connection, service and region, made from the connection."""

from __future__ import annotations

from typing import Any

import pytest
from aws_helpers import Moto, run

from asyncflow import DAG, DagRunState, Engine, TaskState, task
from asyncflow.connections import parse_uri
from sensors.aws.client import AwsOptions, aws_options, aws_service
from sensors.aws.errors import AwsConfigError

pytestmark = pytest.mark.anyio


async def test_clients_are_shared_per_connection_service_and_region(moto: Moto) -> None:
    """Tasks asking for the same client get one object; another service or region is another."""
    seen: dict[str, Any] = {}
    with DAG("clients") as built:

        @task
        async def ask(name: str, service: str, region: str | None = None) -> None:
            seen[name] = (await aws_service("aws_default", service, region)).client

        ask.override(task_id="s3_a")("s3_a", "s3")
        ask.override(task_id="s3_b")("s3_b", "s3")
        ask.override(task_id="glue")("glue", "glue")
        ask.override(task_id="s3_eu")("s3_eu", "s3", "eu-west-1")
    async with Engine("memory://", dags=[built]) as engine:
        result = await engine.run(built.dag_id)
        assert engine.resources.opened == 3
    assert result.state is DagRunState.SUCCESS
    assert seen["s3_a"] is seen["s3_b"]
    assert seen["glue"] is not seen["s3_a"]
    assert seen["s3_eu"].meta.region_name == "eu-west-1"
    config = seen["s3_a"].meta.config
    assert (config.retries["mode"], config.max_pool_connections) == ("standard", 32)


async def test_the_connections_extras_shape_the_client(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max_pool_connections, max_attempts and timeouts come from the connection's extras."""
    monkeypatch.setenv(
        "ASYNCFLOW_CONN_TUNED",
        f"aws://testing:testing@/?region_name=us-east-1&endpoint_url={moto.url}"
        "&max_pool_connections=4&max_attempts=5&connect_timeout=2&read_timeout=7",
    )
    found: dict[str, Any] = {}
    with DAG("tuned") as built:

        @task
        async def look() -> None:
            found["config"] = (await aws_service("tuned", "s3")).client.meta.config

        look()
    result = await run(built)
    assert result.state is DagRunState.SUCCESS
    config = found["config"]
    assert config.max_pool_connections == 4
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert (config.connect_timeout, config.read_timeout) == (2, 7)


async def test_an_unknown_profile_fails_naming_the_connection(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """profile_name that no AWS config file holds fails the task in one line."""
    monkeypatch.setenv("ASYNCFLOW_CONN_PROFILED", "aws://?region_name=us-east-1&profile_name=ghost")
    with DAG("profiled") as built:
        from sensors import S3KeySensor

        S3KeySensor("s3://b/k", aws_conn_id="profiled", task_id="look", poke_interval=0.05)
    result = await run(built)
    ti = result.ti("look")
    assert ti.state is TaskState.FAILED
    assert (
        ti.error
        == "FailTask: aws_conn_id 'profiled': The config profile (ghost) could not be found"
    )


def test_the_connection_gives_credentials_region_endpoint_and_limits() -> None:
    """Login and password are the key pair; extras give the rest; secrets stay out of the repr."""
    conn = parse_uri(
        "aws_default",
        "aws://AKIAKEY:s3cr3t@/?region_name=eu-west-1&endpoint_url=http%3A%2F%2Flocalhost%3A4566"
        "&aws_session_token=t0ken&profile=dev&verify=false",
    )
    options = aws_options(conn)
    assert options == AwsOptions(
        conn_id="aws_default",
        region_name="eu-west-1",
        endpoint_url="http://localhost:4566",
        profile_name="dev",
        access_key_id="AKIAKEY",
        secret_access_key="s3cr3t",
        session_token="t0ken",
        verify=False,
    )
    assert "s3cr3t" not in repr(options)
    assert "t0ken" not in repr(options)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "aws://?max_pool_connections=0",
            "extra max_pool_connections must be a whole number above 0, got '0'",
        ),
        ("aws://?read_timeout=soon", "extra read_timeout must be a number of seconds above 0"),
        ("aws://key@/", "has half a key pair"),
        ("http://host", "is a http:// connection; AWS needs aws://"),
    ],
)
def test_bad_connection_values_are_refused_naming_the_connection(uri: str, message: str) -> None:
    """Each bad value is an AwsConfigError naming the connection and what is wrong."""
    with pytest.raises(AwsConfigError, match="connection 'mine'") as raised:
        aws_options(parse_uri("mine", uri))
    assert message in str(raised.value)
