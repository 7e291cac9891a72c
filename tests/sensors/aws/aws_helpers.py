"""Helpers of the AWS tests: the moto server's controls, running DAGs, reading try logs."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
from aiobotocore.session import AioSession
from moto.core import DEFAULT_ACCOUNT_ID

from asyncflow import DAG, DagRunResult, Engine
from asyncflow.task_logs import try_log_path

MODES = ["poke", "reschedule"]
REGION = "us-east-1"
LIMIT = 10  # seconds: the bound on every wait, far above what any test needs


def connection_uri(endpoint: str, **extra: str) -> str:
    """An aws:// connection URI for a local endpoint (credentials 'testing')."""
    query = urlencode({"region_name": REGION, "endpoint_url": endpoint, **extra})
    return f"aws://testing:testing@/?{query}"


async def run(dag: DAG, **engine_kwargs: Any) -> DagRunResult:
    """Run ``dag`` once on a fresh in-memory engine, bounded by LIMIT."""
    async with Engine("memory://", dags=[dag], **engine_kwargs) as engine:
        with anyio.fail_after(LIMIT):
            return await engine.run(dag.dag_id)


def try_log(result: DagRunResult, task_id: str, try_number: int = 1) -> str:
    """The text of one try's log file (under ASYNCFLOW_LOGS_FOLDER)."""
    folder = Path(os.environ["ASYNCFLOW_LOGS_FOLDER"])
    path = try_log_path(folder, result.dag_id, result.run_id, task_id, -1, try_number)
    return path.read_text()


def post(url: str, body: bytes = b"", content_type: str = "text/plain") -> None:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request, timeout=LIMIT) as response:
        response.read()


def skip_moto_directory_scans() -> None:
    """Make moto's server list its own package once, not on every request.

    ``moto.backends.list_of_moto_modules`` walks moto's directory (about 180
    ``stat`` calls) for each request it serves; the list cannot change while
    the tests run, and caching it takes a third off every request's cost.
    """
    import moto.backends

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]


class Moto:
    """The running moto server: its URL, clients for test setup, and its controls."""

    def __init__(self, url: str, session: AioSession) -> None:
        self.url = url
        self.session = session
        self.transitions: set[str] = set()

    @asynccontextmanager
    async def client(self, service: str) -> AsyncIterator[Any]:
        """A client of the test's own (not the engine's) for setting the scene."""
        async with self.session.create_client(
            service,  # type: ignore[call-overload]
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ) as client:
            yield client

    def seed_objects(self, bucket: str, keys: list[str], body: bytes = b"x") -> None:
        """Write many objects at once through moto's backend in this process.

        Over HTTP, 1,000 ``put_object`` calls take seconds; written here they take
        milliseconds, and the sensors still read them over HTTP.
        """
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key in keys:
            backend.put_object(bucket, key, body)

    def set_transition(self, model: str, transition: dict[str, Any]) -> None:
        """Set how a moto model's status advances (e.g. ``glue::job_run``)."""
        body = json.dumps({"model_name": model, "transition": transition}).encode()
        post(f"{self.url}/moto-api/state-manager/set-transition", body, "application/json")
        self.transitions.add(model)

    def restore(self) -> None:
        """Undo what the test changed beyond the backends (which reset wipes)."""
        for model in self.transitions:
            body = json.dumps({"model_name": model}).encode()
            post(f"{self.url}/moto-api/state-manager/unset-transition", body, "application/json")
        self.transitions.clear()
        self.require_auth(False)

    def require_auth(self, enabled: bool) -> None:
        """Make moto check credentials (unknown access keys are refused) or not."""
        post(f"{self.url}/moto-api/reset-auth", b"0" if enabled else b"inf")
