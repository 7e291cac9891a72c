"""Schemathesis over the API's own OpenAPI document: no 5xx, every response as documented."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from web_support import web_dags

from asyncflow.storage.memory import MemoryStore
from asyncflow.storage.memory_users import MemoryUsers
from asyncflow.storage.sqlite import SqliteStore
from asyncflow.storage.users import Role, TokenRecord, UserRecord
from asyncflow.web import WebContext, create_app
from asyncflow.web.server import serve_app
from asyncflow.web.users import hash_password, token_hash, users_of

TOKEN = "af_schemathesis-admin-token"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _serve(path: Path, port: int, ready: threading.Event, stop: threading.Event) -> None:
    store = SqliteStore(path)
    await store.open()
    try:
        users = users_of(store)
        now = datetime.now(UTC)
        await users.create_user(
            UserRecord(
                username="admin", password_hash=hash_password("pw"), role=Role.ADMIN, created_at=now
            )
        )
        await users.add_token(
            TokenRecord(token_hash=token_hash(TOKEN), username="admin", name="t", created_at=now)
        )
        context = WebContext(
            store=store, users=users, dags=web_dags(), logs_folder=path.parent / "logs"
        )
        stopping = anyio.Event()
        async with anyio.create_task_group() as group:
            await group.start(serve_app, create_app(context), "127.0.0.1", port, stopping)
            ready.set()
            await anyio.to_thread.run_sync(stop.wait)
            stopping.set()
    finally:
        await store.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1, in a thread of its own."""
    port = _free_port()
    ready, stop = threading.Event(), threading.Event()
    path = tmp_path_factory.mktemp("schema") / "web.db"
    thread = threading.Thread(target=anyio.run, args=(_serve, path, port, ready, stop))
    thread.start()
    try:
        assert ready.wait(timeout=20), "the web app did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=20)


def _document() -> dict[str, Any]:
    """The app's OpenAPI document (making it needs no open store)."""
    context = WebContext(
        store=MemoryStore(), users=MemoryUsers(), dags=web_dags(), logs_folder=Path("logs")
    )
    return create_app(context).openapi()


schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_openapi_document(case: Case, base_url: str) -> None:
    """Every operation answers generated requests without a 5xx and as its schema says."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    case.call_and_validate(base_url=base_url, headers=headers, timeout=10)
