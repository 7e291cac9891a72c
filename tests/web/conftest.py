"""Fixtures of the web tests: the app over a real SQLite file, with a user per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from web_support import Web, open_web


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    """The app over a fresh SQLite file, with one user (and token) per role."""
    async with open_web(tmp_path) as opened:
        yield opened
