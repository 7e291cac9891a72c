"""Fixtures of the AWS tests: a real moto server on 127.0.0.1, and a local Glue fake.

One moto server (``moto.server.ThreadedMotoServer`` on port 0; the bound port
comes from ``get_host_and_port()``) serves the whole session; every test that
uses it starts from a blank state (``POST /moto-api/reset``) with
``ASYNCFLOW_CONN_AWS_DEFAULT`` pointing at it. botocore's own configuration
files and ``AWS_*`` variables are hidden, so nothing reaches a real account.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiobotocore.session import AioSession
from aws_helpers import Moto, connection_uri, post, skip_moto_directory_scans
from fake_glue import FakeGlue
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server on 127.0.0.1 for the session."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines
    skip_moto_directory_scans()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def test_session() -> AioSession:
    """One botocore session for the tests' own clients (its models load once)."""
    return AioSession()


@pytest.fixture
def hermetic_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide the AWS configuration of the machine running the tests."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("ASYNCFLOW_LOGS_FOLDER", str(tmp_path / "logs"))


@pytest.fixture
def moto(
    moto_url: str, test_session: AioSession, monkeypatch: pytest.MonkeyPatch, hermetic_aws: None
) -> Iterator[Moto]:
    """The moto server, blank, with ``aws_default`` pointing at it."""
    post(f"{moto_url}/moto-api/reset")
    monkeypatch.setenv("ASYNCFLOW_CONN_AWS_DEFAULT", connection_uri(moto_url))
    server = Moto(moto_url, test_session)
    yield server
    server.restore()


@pytest.fixture(scope="session")
def glue_server() -> Iterator[FakeGlue]:
    """The local Glue fake for the session."""
    fake = FakeGlue()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_glue(
    glue_server: FakeGlue, monkeypatch: pytest.MonkeyPatch, hermetic_aws: None
) -> FakeGlue:
    """The Glue fake, blank, as connection ``glue_fake``."""
    glue_server.reset()
    monkeypatch.setenv("ASYNCFLOW_CONN_GLUE_FAKE", connection_uri(glue_server.url))
    return glue_server
