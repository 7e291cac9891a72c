"""One engine owns a SQLite store: a second one, by any path to the file, is refused."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import anyio
import pytest

from asyncflow import DAG, DagRunState, Engine, TaskState, task
from asyncflow.exceptions import StoreInUse

pytestmark = pytest.mark.anyio


def waiting_dag(started: anyio.Event, release: anyio.Event, ran: list[int]) -> DAG:
    """One task that records its try, says it started, and waits for ``release``."""
    with DAG("owned") as built:

        @task
        async def work() -> str:
            ran.append(1)
            started.set()
            await release.wait()
            return "done"

        work()
    return built


def other_names(database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Store URLs naming the same file: itself, a symlink to it, and a relative path."""
    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.symlink_to(database)
    monkeypatch.chdir(database.parent)
    return [f"sqlite:///{database}", f"sqlite:///{link}", f"sqlite:///{database.name}"]


async def test_a_second_engine_by_any_name_of_the_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While an engine runs a task, another on the file, a symlink or a relative path is refused.

    The refusal names the holder (pid, host, since when), and the running task
    is neither taken over nor run twice.
    """
    database = tmp_path / "data" / "af.db"
    started, release, ran = anyio.Event(), anyio.Event(), []
    dag = waiting_dag(started, release, ran)
    async with Engine(f"sqlite:///{database}", dags=[dag]) as owner:
        run = await owner.trigger("owned")
        with anyio.fail_after(5):
            await started.wait()
        for url in other_names(database, tmp_path, monkeypatch):
            with pytest.raises(StoreInUse) as refused:
                async with Engine(url, dags=[dag]):
                    pytest.fail(f"a second engine opened {url}")
            message = str(refused.value)
            assert f"is in use by the engine pid {os.getpid()} on {socket.gethostname()}" in message
            assert f"since {owner.identity.started_at.isoformat(timespec='seconds')}" in message
            assert "\n" not in message
        release.set()
        with anyio.fail_after(5):
            result = await owner.wait(run.run_id)
    assert result.state is DagRunState.SUCCESS
    assert (result.ti("work").state, result.ti("work").try_number) == (TaskState.SUCCESS, 1)
    assert ran == [1]


async def test_the_store_is_free_again_once_its_engine_has_closed(tmp_path: Path) -> None:
    """After the owning engine leaves, another engine opens the store and reads its runs."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    started, release, ran = anyio.Event(), anyio.Event(), []
    release.set()
    async with Engine(url, dags=[waiting_dag(started, release, ran)]) as first:
        done = await first.run("owned")
    async with Engine(url) as second:
        assert (await second.get_run(done.run_id)).state is DagRunState.SUCCESS


async def test_a_refused_engine_leaves_the_owner_serving(tmp_path: Path) -> None:
    """A refused second engine changes nothing: the owner goes on running and finishing runs."""
    url = f"sqlite:///{tmp_path / 'af.db'}"
    started, release, ran = anyio.Event(), anyio.Event(), []
    async with Engine(url, dags=[waiting_dag(started, release, ran)]) as owner:
        with pytest.raises(StoreInUse):
            async with Engine(url):
                pass
        release.set()
        with anyio.fail_after(5):
            result = await owner.run("owned")
    assert result.state is DagRunState.SUCCESS
