"""Who may read and do what: roles, sessions, CSRF, tokens, login throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from web_support import PASSWORD, Web

from asyncflow.storage.users import Role

pytestmark = pytest.mark.anyio

RUN = "manual__2026-02-01T00:00:00.000000+00:00"
BASE = f"/api/v1/dags/manual/runs/{RUN}"

# (method, path, JSON body, the lowest role allowed)
ENDPOINTS = [
    ("GET", "/api/v1/dags", None, Role.VIEWER),
    ("GET", "/api/v1/dags/import-errors", None, Role.VIEWER),
    ("GET", "/api/v1/dags/manual", None, Role.VIEWER),
    ("GET", "/api/v1/dags/manual/runs", None, Role.VIEWER),
    ("GET", BASE, None, Role.VIEWER),
    ("GET", f"{BASE}/tasks", None, Role.VIEWER),
    ("GET", f"{BASE}/tasks/only", None, Role.VIEWER),
    ("GET", f"{BASE}/xcom", None, Role.VIEWER),
    ("GET", f"{BASE}/tasks/only/xcom/return_value", None, Role.VIEWER),
    ("GET", f"{BASE}/tasks/only/tries/1/log", None, Role.VIEWER),
    ("GET", f"{BASE}/tasks/only/tries/1/log/follow", None, Role.VIEWER),
    ("GET", "/api/v1/sensors", None, Role.VIEWER),
    ("POST", "/api/v1/dags/manual/runs", {"conf": {}}, Role.OP),
    ("POST", "/api/v1/notify/key", None, Role.OP),
    (
        "POST",
        "/api/v1/dags/etl/backfill",
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-01-02T00:00:00Z"},
        Role.OP,
    ),
    ("POST", f"{BASE}/mark-failed", {"reason": "x"}, Role.OP),
    ("POST", f"{BASE}/clear", None, Role.OP),
    ("POST", f"{BASE}/mark-success", None, Role.OP),
    ("DELETE", BASE, None, Role.OP),
    ("POST", f"{BASE}/tasks/only/clear", {"include_downstream": True}, Role.OP),
    ("PATCH", f"{BASE}/tasks/only", {"state": "success"}, Role.OP),
    ("POST", "/api/v1/dags/manual/pause", None, Role.ADMIN),
    ("POST", "/api/v1/dags/manual/unpause", None, Role.ADMIN),
]


async def _seed_run(web: Web) -> None:
    async with web.as_role(Role.OP) as client:
        answer = await client.post(
            "/api/v1/dags/manual/runs", json={"logical_date": "2026-02-01T00:00:00Z"}
        )
        assert answer.status_code == 201


@pytest.mark.parametrize(("method", "path", "body", "lowest"), ENDPOINTS)
async def test_each_role_on_each_endpoint(
    web: Web, method: str, path: str, body: object, lowest: Role
) -> None:
    """Each endpoint refuses anonymous callers (401) and lower roles (403), and admits the rest."""
    await _seed_run(web)
    async with web.client() as anonymous:
        refused = await anonymous.request(method, path, json=body)
    assert refused.status_code == 401
    for role in Role:
        async with web.as_role(role) as client:
            answer = await client.request(method, path, json=body)
        if role.rank < lowest.rank:
            assert answer.status_code == 403, (role, answer.text)
            assert f"needs the {lowest} role" in answer.json()["error"]["message"]
        else:
            # admitted: 404 for what this run has not made yet, 409 for engine-only actions
            assert answer.status_code in (200, 201, 204, 404, 409), (role, answer.text)


async def test_the_matrix_covers_every_operation(web: Web) -> None:
    """Every operation of the OpenAPI document but health and login is in the auth matrix."""
    document = web.app.openapi()
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if path not in ("/api/v1/health", "/api/v1/auth/login")
    }
    templated = {
        (method, path.replace(BASE, "/api/v1/dags/{dag_id}/runs/{run_id}"))
        for method, path, _, _ in ENDPOINTS
    }
    templated = {
        (
            m,
            p.replace("/dags/manual", "/dags/{dag_id}")
            .replace("/dags/etl", "/dags/{dag_id}")
            .replace("/tasks/only", "/tasks/{task_id}"),
        )
        for m, p in templated
    }
    templated = {
        (
            m,
            p.replace("/tries/1/", "/tries/{try_number}/").replace(
                "/xcom/return_value", "/xcom/{key}"
            ),
        )
        for m, p in templated
    }
    templated = {(m, p.replace("/notify/key", "/notify/{key}")) for m, p in templated}
    assert operations - templated == set()


async def test_session_needs_csrf_token_on_writes(web: Web) -> None:
    """A session's POST without the CSRF token is refused; with it, it goes through."""
    async with web.login(Role.ADMIN) as (client, csrf):
        assert (await client.get("/api/v1/dags")).status_code == 200
        refused = await client.post("/api/v1/dags/manual/pause")
        wrong = await client.post("/api/v1/dags/manual/pause", headers={"X-CSRF-Token": "x"})
        done = await client.post("/api/v1/dags/manual/pause", headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    assert wrong.status_code == 403
    assert done.status_code == 200


async def test_session_expires(web: Web) -> None:
    """A session older than the session age is no longer accepted."""
    async with web.login(Role.VIEWER) as (client, _):
        assert (await client.get("/api/v1/dags")).status_code == 200
        web.clock.now += web.context.session_age + timedelta(seconds=1)
        expired = await client.get("/api/v1/dags")
    assert expired.status_code == 401


async def test_forged_cookie_is_refused(web: Web) -> None:
    """A session cookie not signed with the app's key proves nobody."""
    async with web.client() as client:
        client.cookies.set("asyncflow_session", "eyJ1IjoiYWRtaW4ifQ.forged.signature")
        answer = await client.get("/api/v1/dags")
    assert answer.status_code == 401


async def test_wrong_password_then_throttled(web: Web) -> None:
    """Wrong passwords are 401 with one message; past the limit login is 429 even when right."""
    async with web.client() as client:
        for _ in range(web.context.login_attempts):
            wrong = await client.post(
                "/api/v1/auth/login", json={"username": "viewer", "password": "nope"}
            )
            assert wrong.status_code == 401
            assert wrong.json()["error"]["message"] == "wrong username or password"
        throttled = await client.post(
            "/api/v1/auth/login", json={"username": "viewer", "password": PASSWORD}
        )
        assert throttled.status_code == 429
        assert "too many failed logins for 'viewer'" in throttled.json()["error"]["message"]
        assert throttled.headers["Retry-After"] == "61"
        web.clock.now += web.context.login_window
        again = await client.post(
            "/api/v1/auth/login", json={"username": "viewer", "password": PASSWORD}
        )
    assert again.status_code == 200


async def test_unknown_token_is_refused(web: Web) -> None:
    """A bearer token the store does not know is a 401."""
    async with web.client() as client:
        answer = await client.get("/api/v1/dags", headers={"Authorization": "Bearer af_nope"})
    assert answer.status_code == 401


async def test_deleted_user_token_stops_working(web: Web) -> None:
    """Deleting a user deletes its tokens."""
    assert await web.context.users.delete_user("op")
    async with web.as_role(Role.OP) as client:
        answer = await client.get("/api/v1/dags")
    assert answer.status_code == 401


async def test_connection_password_never_in_a_response(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection's password appears in no page or API response, even a failing run's."""
    secret = "s3cr3t-pw-123"
    monkeypatch.setenv("ASYNCFLOW_CONN_HTTP_DEFAULT", f"http://user:{secret}@127.0.0.1:1")
    await _seed_run(web)
    async with web.as_role(Role.ADMIN) as client:
        document = (await client.get("/api/v1/openapi.json")).json()
        paths = [p for p in document["paths"] if "{" not in p]
        bodies = [(await client.get(p)).text for p in paths]
        bodies += [(await client.get(f"{BASE}/tasks")).text, (await client.get("/")).text]
    assert all(secret not in body for body in bodies)
