"""Fixtures shared by every test tier."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the only loop asyncflow supports."""
    return "asyncio"
