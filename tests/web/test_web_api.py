"""The REST API on a real SQLite store, without an engine in the process."""

from __future__ import annotations

import pytest
from web_support import Web

from asyncflow.storage.users import Role

pytestmark = pytest.mark.anyio


async def test_health_needs_no_login(web: Web) -> None:
    """Health answers without a session or token and says the store is reachable."""
    async with web.client() as client:
        answer = await client.get("/api/v1/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "healthy", "store": "ok", "engine_in_process": False}


async def test_dags_list_with_pagination(web: Web) -> None:
    """The DAG list is paginated with its total and says which DAGs are paused."""
    async with web.as_role(Role.VIEWER) as client:
        answer = await client.get("/api/v1/dags", params={"limit": 1, "offset": 1})
    body = answer.json()
    assert body["total"] == 2
    assert [d["dag_id"] for d in body["items"]] == ["manual"]
    assert body["items"][0]["paused"] is False


async def test_import_errors_listed(web: Web) -> None:
    """Import errors are listed with their file and one-line error."""
    async with web.as_role(Role.VIEWER) as client:
        answer = await client.get("/api/v1/dags/import-errors")
    assert answer.json()["items"] == [
        {"file": "broken.py", "error": 'File "broken.py", line 1: SyntaxError: invalid syntax'}
    ]


async def test_unknown_dag_is_404_in_the_error_shape(web: Web) -> None:
    """An unknown DAG answers 404 with the one JSON error shape naming it."""
    async with web.as_role(Role.VIEWER) as client:
        answer = await client.get("/api/v1/dags/nope")
    assert answer.status_code == 404
    assert answer.json() == {"error": {"status": 404, "message": "no DAG 'nope' in the DAG folder"}}


async def test_trigger_queues_a_run_for_the_owning_engine(web: Web) -> None:
    """A trigger from a separate web process stores a queued run with its conf and instances."""
    async with web.as_role(Role.OP) as client:
        answer = await client.post("/api/v1/dags/etl/runs", json={"conf": {"day": 3}})
        assert answer.status_code == 201, answer.text
        run = answer.json()
        assert run["state"] == "queued"
        assert run["conf"] == {"day": 3}
        tis = await client.get(f"/api/v1/dags/etl/runs/{run['run_id']}/tasks")
        listed = await client.get("/api/v1/dags/etl/runs", params={"state": "queued"})
    assert [t["task_id"] for t in tis.json()["items"]] == ["extract", "load"]
    assert listed.json()["total"] == 1


async def test_trigger_with_bad_conf_is_422_naming_the_param(web: Web) -> None:
    """A conf its Params refuse is a 422 whose message names the param; no run is stored."""
    async with web.as_role(Role.OP) as client:
        answer = await client.post("/api/v1/dags/etl/runs", json={"conf": {"day": "x"}})
        runs = await client.get("/api/v1/dags/etl/runs")
    assert answer.status_code == 422
    assert "day" in answer.json()["error"]["message"]
    assert runs.json()["total"] == 0


async def test_trigger_twice_at_one_logical_date_is_409(web: Web) -> None:
    """Triggering a second run at the same logical date is a conflict naming the run."""
    body = {"logical_date": "2026-02-01T00:00:00Z"}
    async with web.as_role(Role.OP) as client:
        first = await client.post("/api/v1/dags/manual/runs", json=body)
        second = await client.post("/api/v1/dags/manual/runs", json=body)
    assert first.status_code == 201
    assert second.status_code == 409
    assert "already has run 'manual__2026-02-01T00:00:00.000000+00:00'" in second.text


async def test_pause_and_unpause(web: Web) -> None:
    """An admin pauses a DAG (stored for the owning engine) and unpauses it."""
    async with web.as_role(Role.ADMIN) as client:
        paused = await client.post("/api/v1/dags/etl/pause")
        assert paused.json()["paused"] is True
        assert await web.context.store.get_paused_dag_ids() == {"etl"}
        unpaused = await client.post("/api/v1/dags/etl/unpause")
    assert unpaused.json()["paused"] is False


async def test_engine_only_actions_are_409_in_a_separate_process(web: Web) -> None:
    """Notify and mark-failed answer 409 saying to use the engine's own process."""
    async with web.as_role(Role.OP) as client:
        run = (await client.post("/api/v1/dags/manual/runs", json={})).json()
        notify = await client.post("/api/v1/notify/orders")
        failed = await client.post(
            f"/api/v1/dags/manual/runs/{run['run_id']}/mark-failed", json={"reason": "no"}
        )
    assert notify.status_code == 409
    assert "asyncflow standalone" in notify.json()["error"]["message"]
    assert failed.status_code == 409


async def test_openapi_document_at_stable_path(web: Web) -> None:
    """The OpenAPI document is served at /api/v1/openapi.json, to logged-in users only."""
    async with web.client() as anonymous:
        refused = await anonymous.get("/api/v1/openapi.json")
    async with web.as_role(Role.VIEWER) as client:
        answer = await client.get("/api/v1/openapi.json")
        page = await client.get("/api/v1/docs")
    assert refused.status_code == 401
    assert answer.status_code == 200
    assert "/api/v1/dags/{dag_id}/runs" in answer.json()["paths"]
    assert "swagger" in page.text.lower()


async def test_backfill_queues_the_missing_intervals(web: Web) -> None:
    """A backfill stores a queued run per data interval, and leaves existing ones alone."""
    body = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-01-03T00:00:00Z"}
    async with web.as_role(Role.OP) as client:
        first = await client.post("/api/v1/dags/etl/backfill", json=body)
        again = await client.post("/api/v1/dags/etl/backfill", json=body)
        runs = await client.get("/api/v1/dags/etl/runs", params={"run_type": "backfill"})
    assert first.status_code == 201
    assert first.json()["created"] == [
        f"backfill__2026-01-0{day}T00:00:00.000000+00:00" for day in (1, 2, 3)
    ]
    assert again.json()["created"] == []
    assert again.json()["existing"] == first.json()["created"]
    assert runs.json()["total"] == 3
    assert {r["state"] for r in runs.json()["items"]} == {"queued"}


@pytest.mark.parametrize(
    ("dag_id", "body", "message"),
    [
        (
            "manual",
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-01-02T00:00:00Z"},
            "DAG 'manual' has no schedule",
        ),
        (
            "etl",
            {"start_date": "2026-01-05T00:00:00Z", "end_date": "2026-01-02T00:00:00Z"},
            "start_date 2026-01-05T00:00:00+00:00 is after end_date",
        ),
        (
            "etl",
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "2036-01-01T00:00:00Z"},
            "a backfill creates at most 1000",
        ),
        ("etl", {"start_date": "yesterday", "end_date": "2026-01-02"}, "body.start_date"),
    ],
)
async def test_bad_backfills_are_422_with_the_reason(
    web: Web, dag_id: str, body: dict[str, str], message: str
) -> None:
    """A backfill of a manual DAG, a reversed or too long range, or a bad date says why."""
    async with web.as_role(Role.OP) as client:
        answer = await client.post(f"/api/v1/dags/{dag_id}/backfill", json=body)
    assert answer.status_code == 422
    assert message in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/v1/dags?limit=0", "query.limit: Input should be greater than or equal to 1"),
        ("/api/v1/dags?offset=-1", "query.offset: Input should be greater than or equal to 0"),
        ("/api/v1/dags/etl/runs?state=nope", "query.state.0: Input should be"),
        ("/api/v1/dags/etl/runs?run_type=nope", "query.run_type: String should match"),
    ],
)
async def test_bad_query_parameters_are_422_naming_them(web: Web, path: str, message: str) -> None:
    """A bad limit, offset or filter is a 422 whose message names the parameter."""
    async with web.as_role(Role.VIEWER) as client:
        answer = await client.get(path)
    assert answer.status_code == 422
    assert message in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [(b"{", 422, "body.1: JSON decode error"), (b"\xff", 400, "error parsing the body")],
)
async def test_a_body_that_is_not_json_is_refused(
    web: Web, body: bytes, status: int, message: str
) -> None:
    """A trigger whose body is broken JSON (422) or not text at all (400) says so."""
    headers = {"Content-Type": "application/json"}
    async with web.as_role(Role.OP) as client:
        answer = await client.post("/api/v1/dags/etl/runs", content=body, headers=headers)
    assert answer.status_code == status
    assert message in answer.json()["error"]["message"]
