"""Per-try log files: print, logging and structlog output of each try, secrets masked.

Capturing print() and logging records is an opt-in of the process
(``ProcessSetup(capture_output=True)``, on in the command line); asyncflow's own
events of a try reach its file either way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog

from asyncflow import DAG, Engine, ProcessSetup, task
from asyncflow.settings import Settings
from asyncflow.task_logs import try_log_path

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("unconfigured_structlog")]

# what the command line turns on: print() and logging into try logs, structlog configured
CAPTURING = ProcessSetup(capture_output=True, configure_logging=True)


async def run_logged(
    tmp_path: Path, built: DAG, process: ProcessSetup = CAPTURING
) -> tuple[Any, Path]:
    """Run ``built`` on a SQLite store with task logs under tmp_path/logs."""
    folder = tmp_path / "logs"
    settings = Settings.from_env(task_logs_folder=folder)
    async with Engine(
        f"sqlite:///{tmp_path / 'af.db'}", dags=[built], settings=settings, process=process
    ) as e:
        with anyio.fail_after(10):
            return await e.run(built.dag_id), folder


async def test_each_try_has_its_own_file_with_everything_it_printed(tmp_path: Path) -> None:
    """Try 1 and try 2 of a retried task each get a file with their print and logging output."""
    logging.getLogger("user.code").setLevel(logging.INFO)
    with DAG("chatty") as built:

        @task(retries=1, retry_delay=0)
        def noisy(ti: Any) -> None:
            print(f"hello from try {ti.try_number}")
            logging.getLogger("user.code").info("a logging record")
            if ti.try_number == 1:
                raise RuntimeError("first try fails")

        noisy()
    result, folder = await run_logged(tmp_path, built)
    first = try_log_path(folder, "chatty", result.run_id, "noisy", -1, 1).read_text()
    second = try_log_path(folder, "chatty", result.run_id, "noisy", -1, 2).read_text()
    assert "hello from try 1" in first
    assert "a logging record" in first
    assert "RuntimeError: first try fails" in first
    assert "try 1 ended: up_for_retry" in first
    assert "hello from try 2" in second
    assert "hello from try 1" not in second
    assert "try 2 ended: success" in second


async def test_concurrent_async_tries_and_mapped_instances_keep_to_their_files(
    tmp_path: Path,
) -> None:
    """Interleaved async tries write only to their own files; mapped ones are task.N."""
    with DAG("mapped_logs") as built:

        @task
        async def shout(word: str) -> None:
            for _ in range(3):
                print(f"word={word}")
                structlog.get_logger("user").info("said", word=word)
                await anyio.lowlevel.checkpoint()

        shout.expand(word=["alpha", "beta", "gamma"])
    result, folder = await run_logged(tmp_path, built)
    for index, word in enumerate(["alpha", "beta", "gamma"]):
        text = try_log_path(folder, "mapped_logs", result.run_id, "shout", index, 1).read_text()
        assert text.count(f"word={word}") == 3
        assert '"word": "' + word in text
        others = {"alpha", "beta", "gamma"} - {word}
        assert not any(f"word={other}" in text for other in others)


async def test_connection_secrets_are_masked_in_try_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection password printed by a task never reaches its log file."""
    monkeypatch.setenv("ASYNCFLOW_CONN_WAREHOUSE", "postgresql://loader:pa55word@db:5432/dw")
    with DAG("leaky") as built:

        @task
        def careless() -> None:
            print("connecting with pa55word")

        careless()
    result, folder = await run_logged(tmp_path, built)
    text = try_log_path(folder, "leaky", result.run_id, "careless", -1, 1).read_text()
    assert "pa55word" not in text
    assert "connecting with ***" in text


async def test_the_in_memory_store_writes_no_logs(tmp_path: Path) -> None:
    """dag.test()-style engines on memory:// keep logs on the console only."""
    folder = tmp_path / "logs"
    with DAG("quiet") as built:

        @task
        def hello() -> None:
            print("hi")

        hello()
    settings = Settings.from_env(task_logs_folder=folder)
    async with Engine("memory://", dags=[built], settings=settings, process=CAPTURING) as engine:
        await engine.run("quiet")
    assert not folder.exists()


async def test_a_silent_try_writes_no_file(tmp_path: Path) -> None:
    """A try that prints and logs nothing costs no file."""
    with DAG("silent") as built:

        @task
        async def nothing() -> int:
            return 1

        nothing()
    result, folder = await run_logged(tmp_path, built)
    assert not try_log_path(folder, "silent", result.run_id, "nothing", -1, 1).exists()


async def test_a_poke_mode_sensor_logs_every_poke_in_one_file(tmp_path: Path) -> None:
    """Three pokes of a poke-mode sensor write one file, headed once, ended once."""
    with DAG("poked") as built:

        @task.sensor(poke_interval=0.01)
        async def wait(ti: Any) -> bool:
            print(f"poke {ti.poke_count + 1}")
            return ti.poke_count >= 2

        wait()
    result, folder = await run_logged(tmp_path, built)
    text = try_log_path(folder, "poked", result.run_id, "wait", -1, 1).read_text()
    assert [line for line in text.splitlines() if line.startswith("poke ")] == [
        "poke 1",
        "poke 2",
        "poke 3",
    ]
    assert text.count("try 1 of wait") == 1
    assert text.count("try 1 ended") == 1
    assert "try 1 ended: success" in text


async def test_an_unwritable_log_folder_never_fails_the_task(tmp_path: Path) -> None:
    """When the try log cannot be created the task still succeeds and one warning says why."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "blocked").write_text("a file where the DAG's log folder should be")
    with DAG("blocked") as built:

        @task.sensor(poke_interval=0.01)
        async def chatty(ti: Any) -> bool:
            print(f"poke {ti.poke_count + 1}")
            return ti.poke_count >= 2

        chatty()
    settings = Settings.from_env(task_logs_folder=folder)
    with structlog.testing.capture_logs() as events:
        async with Engine(
            f"sqlite:///{tmp_path / 'af.db'}", dags=[built], settings=settings, process=CAPTURING
        ) as e:
            with anyio.fail_after(10):
                result = await e.run("blocked")
    assert result.ti("chatty").state == "success"
    warnings = [event for event in events if event["event"] == "try_log_unwritable"]
    assert len(warnings) == 1, warnings
    assert warnings[0]["path"].startswith(str(folder / "blocked"))
    assert warnings[0]["error"].startswith(("NotADirectoryError", "FileExistsError"))
