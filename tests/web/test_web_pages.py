"""The server-rendered UI: login, DAG list, pause toggle, trigger form, grid, task page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from web_support import PASSWORD, RUN, Web, seed_run

from asyncflow.states import DagRunState, TaskState
from asyncflow.storage.users import Role

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def _logged_in(web: Web, role: Role) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with web.client() as client:
        yield client, await _log_in(client, role)


async def _log_in(client: httpx.AsyncClient, role: Role) -> str:
    form = await client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = await client.post(
        "/login",
        data={"username": str(role), "password": PASSWORD, "login_csrf": token[1], "next": "/"},
    )
    assert answer.status_code == 303, answer.text
    page = await client.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    return csrf[1]


async def test_pages_send_anonymous_browsers_to_login(web: Web) -> None:
    """A page without a session redirects to the login form, remembering where it was going."""
    async with web.client() as client:
        answer = await client.get("/dags/etl/grid")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fdags%2Fetl%2Fgrid"


async def test_login_form_without_its_csrf_cookie_is_refused(web: Web) -> None:
    """A login post that did not come from the login form is refused with a reason."""
    async with web.client() as client:
        answer = await client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert answer.status_code == 403
    assert "the login form expired" in answer.text


async def test_wrong_password_on_the_form(web: Web) -> None:
    """A wrong password shows the login form again with one line saying so."""
    async with web.client() as client:
        form = await client.get("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
        assert token is not None
        answer = await client.post(
            "/login", data={"username": "admin", "password": "nope", "login_csrf": token[1]}
        )
    assert answer.status_code == 401
    assert "wrong username or password" in answer.text


async def test_dag_list_shows_dags_and_import_errors(web: Web) -> None:
    """The DAG list shows each DAG's schedule, next run and an import errors banner."""
    async with _logged_in(web, Role.VIEWER) as (client, _):
        page = await client.get("/")
    assert 'id="import-errors"' in page.text
    assert "broken.py" in page.text
    assert "@daily" not in page.text  # a preset is shown as the cron it is
    assert "0 0 * * *" in page.text
    assert "2026-02-01 00:00:00+00:00" in page.text  # the next run after the fake now
    assert "pause-toggle" not in page.text  # a viewer sees no toggle


async def test_pause_toggle_needs_the_form_token(web: Web) -> None:
    """An admin pauses a DAG with the list's form; without the CSRF field it is refused."""
    async with _logged_in(web, Role.ADMIN) as (client, csrf):
        refused = await client.post("/dags/etl/pause")
        done = await client.post("/dags/etl/pause", data={"csrf_token": csrf})
        page = await client.get("/")
    assert refused.status_code == 403
    assert done.status_code == 303
    assert await web.context.store.get_paused_dag_ids() == {"etl"}
    assert "Paused: unpause" in page.text


async def test_trigger_form_checks_conf_against_params(web: Web) -> None:
    """The trigger form shows the Param error for a bad conf and queues a run for a good one."""
    async with _logged_in(web, Role.OP) as (client, csrf):
        form = await client.get("/dags/etl/trigger")
        assert "&#34;day&#34;: 1" in form.text  # escaped in the textarea
        not_json = await client.post("/dags/etl/trigger", data={"csrf_token": csrf, "conf": "{"})
        bad = await client.post(
            "/dags/etl/trigger", data={"csrf_token": csrf, "conf": '{"day": "x"}'}
        )
        good = await client.post(
            "/dags/etl/trigger", data={"csrf_token": csrf, "conf": '{"day": 2}'}
        )
        grid = await client.get("/dags/etl/grid")
    assert not_json.status_code == 422
    assert "conf is not JSON" in not_json.text
    assert "conf must be a JSON object" in (await _post_conf(web, "[1]")).text
    bad_date = await _post_conf(web, "{}", logical_date="tomorrow")
    assert "logical date is not ISO 8601" in bad_date.text
    assert bad.status_code == 422
    assert "day" in bad.text
    assert good.status_code == 303
    assert good.headers["location"] == "/dags/etl/grid"
    assert 'data-run-state="queued"' in grid.text
    [run] = await web.context.store.list_runs("etl")
    assert run.conf == {"day": 2}


async def test_task_page_and_sensors_page(web: Web) -> None:
    """A task instance's page and the sensors page render for a viewer."""
    async with web.as_role(Role.OP) as api:
        run = (await api.post("/api/v1/dags/etl/runs", json={})).json()
    async with _logged_in(web, Role.VIEWER) as (client, _):
        ti = await client.get(f"/dags/etl/runs/{run['run_id']}/tasks/extract")
        sensors = await client.get("/sensors", params={"dag_id": "etl"})
        graph = await client.get("/dags/etl/graph")
    assert ti.status_code == 200
    assert "No try yet." in ti.text
    assert sensors.status_code == 200
    assert "Waiting sensors" in sensors.text
    assert "extract" in graph.text


async def test_page_actions_check_the_role(web: Web) -> None:
    """An op cannot pause from the page, a viewer cannot open the trigger form."""
    async with _logged_in(web, Role.OP) as (client, csrf):
        refused = await client.post("/dags/etl/pause", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert "needs the admin role" in refused.text
    async with _logged_in(web, Role.VIEWER) as (client, _):
        form = await client.get("/dags/etl/trigger")
    assert form.status_code == 403


async def test_logout_ends_the_session(web: Web) -> None:
    """After logging out, pages send the browser to the login form again."""
    async with _logged_in(web, Role.VIEWER) as (client, csrf):
        out = await client.post("/logout", data={"csrf_token": csrf})
        after = await client.get("/")
    assert out.status_code == 303
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


async def _post_conf(web: Web, conf: str, logical_date: str = "") -> httpx.Response:
    async with _logged_in(web, Role.OP) as (client, csrf):
        data = {"csrf_token": csrf, "conf": conf, "logical_date": logical_date}
        return await client.post("/dags/etl/trigger", data=data)


async def _seed_failed_run(web: Web) -> str:
    """A failed run of etl (extract failed, load upstream_failed) in the store; its run_id."""
    await seed_run(web, DagRunState.FAILED, TaskState.FAILED)
    return RUN


async def test_run_page_lists_instances_and_the_ops_buttons(web: Web) -> None:
    """The run page shows its instances; an op sees the run's buttons, a viewer none."""
    run_id = await _seed_failed_run(web)
    async with _logged_in(web, Role.OP) as (client, _):
        page = await client.get(f"/dags/etl/runs/{run_id}")
    assert page.status_code == 200
    for part in ('id="ti-extract"', 'id="ti-load"', 'id="mark-success"', 'id="clear-run"'):
        assert part in page.text
    assert 'id="mark-failed"' not in page.text, "a finished run is not marked failed"
    async with _logged_in(web, Role.VIEWER) as (client, _):
        page = await client.get(f"/dags/etl/runs/{run_id}")
    assert 'id="run-actions"' not in page.text


async def test_run_page_buttons_clear_a_task_and_mark_and_delete_the_run(web: Web) -> None:
    """Clear with downstream queues the run; mark success ends it; delete goes back to the grid."""
    run_id = await _seed_failed_run(web)
    base = f"/dags/etl/runs/{run_id}"
    async with _logged_in(web, Role.OP) as (client, csrf):
        cleared = await client.post(
            f"{base}/tasks/extract/clear", data={"csrf_token": csrf, "downstream": "on"}
        )
        assert (cleared.status_code, cleared.headers["location"]) == (303, base)
        queued = await client.get(base)
        assert '<span id="run-state">queued</span>' in queued.text
        no_token = await client.post(f"{base}/mark-success", data={})
        assert no_token.status_code == 403
        store = web.context.store
        record = await store.get_run("etl", run_id)
        assert record is not None
        assert record.state == "queued"
        marked = await client.post(f"{base}/mark-success", data={"csrf_token": csrf})
        assert marked.status_code == 303
        assert '<span id="run-state">success</span>' in (await client.get(base)).text
        deleted = await client.post(f"{base}/delete", data={"csrf_token": csrf, "confirm": "on"})
        assert (deleted.status_code, deleted.headers["location"]) == (303, "/dags/etl/grid")
    assert await store.get_run("etl", run_id) is None


async def test_a_refused_button_says_why_on_the_run_page(web: Web) -> None:
    """Marking a run running in another process failed is refused on the page, nothing changed."""
    await seed_run(web, DagRunState.RUNNING, TaskState.RUNNING)
    async with _logged_in(web, Role.OP) as (client, csrf):
        answer = await client.post(f"/dags/etl/runs/{RUN}/delete", data={"csrf_token": csrf})
        assert answer.status_code == 409
        assert 'id="refused"' in answer.text
        assert "only the engine running it can delete it" in answer.text
        viewer_refused = await client.post(
            f"/dags/etl/runs/{RUN}/tasks/extract/success", data={"csrf_token": csrf}
        )
        assert viewer_refused.status_code == 409
    record = await web.context.store.get_run("etl", RUN)
    assert record is not None
    assert record.state == "running"
