"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
import structlog


def pytest_configure(config: pytest.Config) -> None:
    """Keep every test's ASYNCFLOW_HOME (task logs, default store) out of the real home."""
    os.environ["ASYNCFLOW_HOME"] = tempfile.mkdtemp(prefix="asyncflow-tests-")


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the only loop asyncflow supports."""
    return "asyncio"


@pytest.fixture
def unconfigured_structlog() -> Iterator[None]:
    """The test starts with structlog unconfigured, as a fresh process; it is put back after."""
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    if was_configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()
