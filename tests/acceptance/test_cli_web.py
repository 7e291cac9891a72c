"""`asyncflow users`, `asyncflow web` and `standalone` with its web UI, as subprocesses."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
from cli_helpers import Served, assert_one_line_error, asyncflow, stored_runs, wait_until, write

PASSWORD = "a-long-password"
DAG_FILE = """\
from asyncflow import dag, task


@dag(schedule=None)
def hello():
    @task
    def greet():
        return "hi"

    greet()


hello()
"""


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    write(home / "dags", "hello.py", DAG_FILE)
    assert asyncflow(home, "db", "init").returncode == 0
    return home


def _url(server: Served, prefix: str) -> str:
    def found() -> str | None:
        match = re.search(rf"{prefix}: (http://[\d.:]+)/", server.out.read_text())
        return match[1] if match else None

    return wait_until("the web server's address", found)


def test_users_create_list_token_delete(tmp_path: Path) -> None:
    """A user is created with a role, listed without its password, given a token, deleted."""
    home = _home(tmp_path)
    env = {"ASYNCFLOW_USER_PASSWORD": PASSWORD}
    created = asyncflow(home, "users", "create", "alice", "--role", "op", **env)
    assert created.stdout == "User alice created (op).\n"
    listed = asyncflow(home, "users", "list")
    assert "alice" in listed.stdout
    assert "op" in listed.stdout
    assert PASSWORD not in listed.stdout
    token = asyncflow(home, "users", "token", "alice").stdout.strip()
    assert token.startswith("af_")
    assert asyncflow(home, "users", "delete", "alice").stdout == "User alice deleted.\n"
    assert "alice" not in asyncflow(home, "users", "list").stdout


def test_users_bad_input_is_one_line(tmp_path: Path) -> None:
    """Taken names, short passwords, unknown users and a missing database are one line, exit 2."""
    home = _home(tmp_path)
    env = {"ASYNCFLOW_USER_PASSWORD": PASSWORD}
    asyncflow(home, "users", "create", "bob", **env)
    assert_one_line_error(
        asyncflow(home, "users", "create", "bob", **env), "user 'bob' exists already"
    )
    assert_one_line_error(
        asyncflow(home, "users", "create", "carol", ASYNCFLOW_USER_PASSWORD="short"),
        "a password of at least 8 characters",
    )
    assert_one_line_error(asyncflow(home, "users", "delete", "nobody"), "no user 'nobody'")
    assert_one_line_error(asyncflow(home, "users", "token", "nobody"), "no user 'nobody'")
    assert_one_line_error(
        asyncflow(home, "users", "create", "bob", "--role", "king", **env), "'king' is not one of"
    )
    assert_one_line_error(
        asyncflow(tmp_path / "empty", "users", "list"), "no database at", "asyncflow db init"
    )


def test_web_beside_run_queues_a_trigger_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`asyncflow web` answers a token, stores a triggered run as queued, exits 0 on SIGTERM."""
    home = _home(tmp_path)
    asyncflow(home, "users", "create", "ops", "--role", "op", ASYNCFLOW_USER_PASSWORD=PASSWORD)
    token = asyncflow(home, "users", "token", "ops").stdout.strip()
    server = Served(home, "web", "--port", "0")
    try:
        base = _url(server, "asyncflow web")
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/api/v1/dags", timeout=10).status_code == 401
        answer = httpx.post(f"{base}/api/v1/dags/hello/runs", json={}, headers=headers, timeout=10)
        assert answer.status_code == 201, answer.text
        assert answer.json()["state"] == "queued"
    finally:
        assert server.stop() == 0, server.err.read_text()
    [run] = stored_runs(home, "hello")
    assert run.state == "queued"


def test_standalone_runs_what_its_web_ui_triggers(tmp_path: Path) -> None:
    """`asyncflow standalone` serves the API from the engine's process: a trigger runs."""
    home = _home(tmp_path)
    asyncflow(home, "users", "create", "ops", "--role", "op", ASYNCFLOW_USER_PASSWORD=PASSWORD)
    token = asyncflow(home, "users", "token", "ops").stdout.strip()
    server = Served(home, "standalone", "--port", "0")
    try:
        base = _url(server, "web UI and API")
        headers = {"Authorization": f"Bearer {token}"}
        run = httpx.post(f"{base}/api/v1/dags/hello/runs", json={}, headers=headers, timeout=10)
        run_id = run.json()["run_id"]

        def finished() -> str | None:
            answer = httpx.get(f"{base}/api/v1/dags/hello/runs/{run_id}", headers=headers)
            state: str = answer.json()["state"]
            return state if state in ("success", "failed") else None

        assert wait_until("the triggered run to finish", finished) == "success"
        woken = httpx.post(f"{base}/api/v1/notify/anything", headers=headers, timeout=10)
        assert woken.json() == {"key": "anything", "woken": 0}
    finally:
        assert server.stop() == 0, server.err.read_text()


def test_web_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    """`asyncflow web` on a port another socket holds fails with one line naming it."""
    home = _home(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = asyncflow(home, "web", "--port", str(port))
    assert_one_line_error(
        done, f"cannot listen on 127.0.0.1:{port}: Address already in use", code=1
    )
