"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Keep every test's ASYNCFLOW_HOME (task logs, default store) out of the real home."""
    os.environ["ASYNCFLOW_HOME"] = tempfile.mkdtemp(prefix="asyncflow-tests-")


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the only loop asyncflow supports."""
    return "asyncio"
