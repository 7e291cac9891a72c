"""The web UI in headless Chromium (Playwright): log in, trigger with conf, watch, read, pause.

Chromium is Debian's (``scripts/install-browser``). Screenshots of each view go to
the test's folder, or to ``ASYNCFLOW_SCREENSHOTS`` when set (``docs/images`` to
refresh the documentation's).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from asyncflow import DAG, BashOperator, Engine, TaskGroup, task
from asyncflow.params import Param
from asyncflow.settings import Settings
from asyncflow.storage.users import Role, UserRecord
from asyncflow.web import asgi_app
from asyncflow.web.server import serve_app
from asyncflow.web.users import hash_password, users_of

CHROMIUM = shutil.which("chromium")
PASSWORD = "browser-password"


def browser_dags() -> list[DAG]:
    with DAG("greet", params={"name": Param("world", type="string")}, tags=["example"]) as greet:

        @task
        def hello(params: dict[str, str]) -> str:
            return f"hello {params['name']}"

        @task.bash
        def shout(word: str) -> str:
            return f"echo shouting {word}"

        with TaskGroup("shouting"):
            shout.expand(word=["a", "b", "c"])
        hello() >> BashOperator(task_id="done", bash_command="echo all done")
    with DAG("nightly", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=UTC)) as nightly:
        BashOperator(task_id="report", bash_command="echo report")
    return [greet, nightly]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _serve(home: Path, port: int, ready: threading.Event, stop: threading.Event) -> None:
    settings = Settings.from_env({"ASYNCFLOW_HOME": str(home)})
    async with Engine(f"sqlite:///{home}/web.db", dags=browser_dags(), settings=settings) as engine:
        await users_of(engine.store).create_user(
            UserRecord(
                username="admin",
                password_hash=hash_password(PASSWORD),
                role=Role.ADMIN,
                created_at=datetime.now(UTC),
            )
        )
        stopping = anyio.Event()
        async with anyio.create_task_group() as group:
            await group.start(serve_app, asgi_app(engine), "127.0.0.1", port, stopping)
            ready.set()
            await anyio.to_thread.run_sync(stop.wait)
            stopping.set()


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    """An embedded engine's web app served by uvicorn on 127.0.0.1, in a thread."""
    port = _free_port()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=anyio.run, args=(_serve, tmp_path, port, ready, stop))
    thread.start()
    try:
        assert ready.wait(timeout=30), "the web app did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=30)


@pytest.fixture
def page(base_url: str) -> Iterator[Page]:
    """A headless Chromium page."""
    assert CHROMIUM is not None, "chromium is missing: run scripts/install-browser"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(base_url=base_url, viewport={"width": 1200, "height": 760})
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_log_in_trigger_watch_read_logs_and_pause(page: Page, tmp_path: Path) -> None:
    """A user logs in, triggers with conf, watches the grid, reads a log, clears a task, pauses."""
    shots = Path(os.environ.get("ASYNCFLOW_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    page.goto("/")
    expect(page).to_have_url("/login?next=%2F")
    page.screenshot(path=shots / "login.png")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    expect(page.locator("#dags")).to_contain_text("nightly")
    page.click("#dag-greet >> text=Trigger")
    page.fill("textarea[name=conf]", '{"name": "browser"}')
    page.screenshot(path=shots / "trigger.png")
    page.click("text=Trigger >> nth=-1")

    expect(page).to_have_url("/dags/greet/grid")
    expect(page.locator("[data-run-state=success]")).to_have_count(1, timeout=30_000)
    page.screenshot(path=shots / "grid.png")

    page.click("tr:has-text('done') a")
    expect(page.locator("#log")).to_contain_text("all done")
    page.screenshot(path=shots / "task-instance.png")
    page.click("text=greet")
    page.click("text=Graph")
    expect(page.locator("#graph")).to_contain_text("shouting.shout")
    expect(page.locator("[data-task=done]")).to_have_class("state state-success")
    page.screenshot(path=shots / "graph.png")
    page.click("summary:has-text('shouting')")
    expect(page.locator("[data-task='shouting.shout']")).to_be_hidden()

    page.goto("/dags/greet/grid")
    page.click("[data-run-state=success]")
    expect(page.locator("#run-state")).to_have_text("success")
    page.click("#ti-done >> text=Clear")
    expect(page.locator("#run-state")).to_have_text("success", timeout=30_000)  # page reloads
    expect(page.locator("#ti-done .tries")).to_have_text("2")  # its second try
    page.screenshot(path=shots / "run.png")

    page.goto("/")
    page.click("#dag-nightly .pause-toggle")
    expect(page.locator("#dag-nightly .pause-toggle")).to_have_text("Paused: unpause")
    page.screenshot(path=shots / "dags.png")
    page.goto("/sensors")
    expect(page.locator("h1")).to_contain_text("Waiting sensors")
    page.screenshot(path=shots / "sensors.png")
    assert sorted(p.name for p in shots.iterdir()) == [
        "dags.png",
        "graph.png",
        "grid.png",
        "login.png",
        "run.png",
        "sensors.png",
        "task-instance.png",
        "trigger.png",
    ]
