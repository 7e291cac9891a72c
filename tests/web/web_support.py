"""The web app over a real SQLite file, its users, and clients for each role (tests/web)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from asyncflow import DAG, DagRunState, EmptyOperator, Engine, TaskState, task
from asyncflow.params import Param
from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.storage.sqlite import SqliteStore
from asyncflow.storage.users import Role, TokenRecord, UserRecord
from asyncflow.web import WebContext, asgi_app, create_app
from asyncflow.web.users import hash_password, new_token, token_hash, users_of

PASSWORD = "correct horse battery staple"
PASSWORD_HASH = hash_password(PASSWORD)  # argon2 is slow on purpose: hashed once for all tests
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def web_dags() -> dict[str, DAG]:
    with DAG(
        "etl", schedule="@daily", start_date=START, params={"day": Param(1, type="integer")}
    ) as etl:

        @task
        def extract() -> dict[str, str]:
            return {"password": "not-a-secret"}

        extract() >> EmptyOperator(task_id="load")
    with DAG("manual") as manual:
        EmptyOperator(task_id="only")
    return {etl.dag_id: etl, manual.dag_id: manual}


@dataclass
class Web:
    """The app, its context and clock, and a token per role."""

    app: FastAPI
    context: WebContext
    clock: FakeClock
    tokens: dict[Role, str]

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def as_role(self, role: Role) -> httpx.AsyncClient:
        client = self.client()
        client.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return client

    @asynccontextmanager
    async def login(self, role: Role) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        async with self.client() as client:
            answer = await client.post(
                "/api/v1/auth/login", json={"username": str(role), "password": PASSWORD}
            )
            assert answer.status_code == 200, answer.text
            yield client, answer.json()["csrf_token"]


@asynccontextmanager
async def open_web(tmp_path: Path) -> AsyncIterator[Web]:
    store = SqliteStore(tmp_path / "web.db")
    await store.open()
    users = users_of(store)
    tokens: dict[Role, str] = {}
    for role in Role:
        created = await users.create_user(
            UserRecord(
                username=str(role),
                password_hash=PASSWORD_HASH,
                role=role,
                created_at=START,
            )
        )
        assert created
        tokens[role] = new_token()
        await users.add_token(
            TokenRecord(
                token_hash=token_hash(tokens[role]),
                username=str(role),
                name="tests",
                created_at=START,
            )
        )
    clock = FakeClock(START + timedelta(days=30))
    context = WebContext(
        store=store,
        users=users,
        dags=web_dags(),
        import_errors={"broken.py": 'File "broken.py", line 1: SyntaxError: invalid syntax'},
        logs_folder=tmp_path / "logs",
        secret_key="test-key",
        now=clock,
    )
    try:
        yield Web(app=create_app(context), context=context, clock=clock, tokens=tokens)
    finally:
        await store.close()


RUN = "manual__2026-02-01T00:00:00.000000+00:00"
"""The run_id of the run :func:`seed_run` stores."""


async def seed_run(web: Web, state: DagRunState, extract: TaskState | None) -> None:
    """A run of etl (extract >> load) as another process left it: extract in ``extract``."""
    when = START + timedelta(days=31)
    run = DagRunRecord(
        dag_id="etl",
        run_id=RUN,
        run_type="manual",
        state=state,
        logical_date=when,
        queued_at=when,
        start_date=when,
        end_date=None if state is DagRunState.RUNNING else when,
    )
    ended = None if extract is None else when
    failed = extract is TaskState.FAILED
    instances = [
        TaskInstanceRecord(
            dag_id="etl",
            run_id=RUN,
            task_id="extract",
            state=extract,
            try_number=1,
            start_date=when,
            end_date=ended,
            error="boom" if failed else None,
        ),
        TaskInstanceRecord(
            dag_id="etl",
            run_id=RUN,
            task_id="load",
            state=TaskState.UPSTREAM_FAILED if failed else None,
            start_date=ended,
            end_date=ended,
        ),
    ]
    assert await web.context.store.create_run(run, instances)


@asynccontextmanager
async def op_client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an open engine's app with an op's token (the user is made here)."""
    users = users_of(engine.store)
    now = datetime.now(UTC)
    await users.create_user(
        UserRecord(username="op", password_hash=PASSWORD_HASH, role=Role.OP, created_at=now)
    )
    token = new_token()
    await users.add_token(
        TokenRecord(token_hash=token_hash(token), username="op", name="t", created_at=now)
    )
    transport = httpx.ASGITransport(app=asgi_app(engine, secret_key="k"))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as client:
        yield client


MakeClient = Callable[[Role], httpx.AsyncClient]
