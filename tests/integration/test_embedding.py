"""An engine embedded in a service leaves the process alone unless the host opts in."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from asyncflow import DAG, Engine, ProcessSetup, task
from asyncflow.settings import Settings
from asyncflow.task_logs import try_log_path

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("unconfigured_structlog")]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessState:
    """What a library must not change behind its host's back."""

    gc_threshold: tuple[int, ...]
    stdout: Any
    stderr: Any
    root_level: int
    root_handlers: tuple[logging.Handler, ...]
    structlog_configured: bool
    threads: frozenset[threading.Thread]
    gc_callbacks: int

    @classmethod
    def now(cls) -> ProcessState:
        """The state as it is at this moment."""
        root = logging.getLogger()
        return cls(
            gc_threshold=gc.get_threshold(),
            stdout=sys.stdout,
            stderr=sys.stderr,
            root_level=root.level,
            root_handlers=tuple(root.handlers),
            structlog_configured=structlog.is_configured(),
            threads=frozenset(threading.enumerate()),
            gc_callbacks=len(gc.callbacks),
        )


def chatty_dag(seen: list[ProcessState]) -> DAG:
    """A DAG whose one async task notes the process state, prints, logs and fails."""
    with DAG("chatty") as built:

        @task
        async def talk() -> None:
            seen.append(ProcessState.now())
            print("PRINTED by the task")
            logging.getLogger("user.code").warning("LOGGED by the task")
            raise RuntimeError("the task failed on purpose")

        talk()
    return built


async def run_chatty(tmp_path: Path, process: ProcessSetup | None) -> tuple[Any, Path]:
    """Run the chatty DAG on an in-memory store (no store threads) that keeps try logs."""
    seen: list[ProcessState] = []
    settings = Settings.from_env(task_logs_folder=tmp_path / "logs", gc_threshold=23_456)
    engine = Engine(
        "memory://", dags=[chatty_dag(seen)], settings=settings, task_logs=True, process=process
    )
    async with engine:
        with anyio.fail_after(10):
            result = await engine.run("chatty")
    (during,) = seen
    log = try_log_path(tmp_path / "logs", "chatty", result.run_id, "talk", -1, 1)
    return during, log


async def test_an_embedded_engine_changes_no_process_wide_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GC thresholds, stdout/stderr, the root logger, structlog and threads stay as they were."""
    before = ProcessState.now()
    during, log = await run_chatty(tmp_path, process=None)
    assert during == before
    assert ProcessState.now() == before
    out = capsys.readouterr().out
    assert "PRINTED by the task" in out  # the host's stdout, not the try log
    assert "engine_started" not in out  # asyncflow printed none of its own events
    text = log.read_text()
    assert "PRINTED by the task" not in text
    assert "RuntimeError: the task failed on purpose" in text  # its own events still do


async def test_without_structlog_configured_events_go_to_stdlib_logging(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An embedded engine's events are `logging` records under asyncflow's logger names."""
    caplog.set_level(logging.INFO, logger="asyncflow")
    await run_chatty(tmp_path, process=None)
    engine_events = [r.getMessage() for r in caplog.records if r.name == "asyncflow.engine"]
    assert any(m.startswith("engine_started owner=") for m in engine_events), engine_events
    (failed,) = [r for r in caplog.records if r.getMessage().startswith("task_failed ")]
    assert failed.name == "asyncflow.task"
    assert failed.levelno == logging.ERROR
    assert 'task_id="talk"' in failed.getMessage()
    assert "Traceback" in failed.getMessage()


async def test_a_host_structlog_configuration_gets_the_events_and_try_logs_still_do(
    tmp_path: Path,
) -> None:
    """With the host's own structlog setup, events go through it and still reach the try log."""
    with structlog.testing.capture_logs() as events:
        _, log = await run_chatty(tmp_path, process=None)
    assert any(e["event"] == "task_failed" and e["task_id"] == "talk" for e in events)
    assert log.read_text().count("ERROR task_failed") == 1


async def test_the_opt_ins_change_the_process_while_open_and_put_it_back(
    tmp_path: Path,
) -> None:
    """Every opt-in changes the process while open; closing undoes all but the logging setup."""
    before = ProcessState.now()
    during, log = await run_chatty(tmp_path, process=ProcessSetup.everything())
    assert during.gc_threshold == (23_456, 50, 100)
    assert during.stdout is not before.stdout
    assert during.stderr is not before.stderr
    assert len(during.root_handlers) == len(before.root_handlers) + 1
    assert during.structlog_configured
    (watchdog,) = [t for t in during.threads - before.threads if t.name == "asyncflow-watchdog"]
    assert during.gc_callbacks == before.gc_callbacks + 1
    watchdog.join(timeout=5)
    assert not watchdog.is_alive()
    after = ProcessState.now()
    assert after.gc_threshold == before.gc_threshold
    assert (after.stdout, after.stderr) == (before.stdout, before.stderr)
    assert (after.root_level, after.root_handlers) == (before.root_level, before.root_handlers)
    assert after.gc_callbacks == before.gc_callbacks
    assert after.structlog_configured  # logging set up for the process stays set up
    text = log.read_text()
    assert "PRINTED by the task" in text
    assert "LOGGED by the task" in text
    assert text.count("task_failed") == 1


async def test_capturing_without_structlog_writes_each_event_once(tmp_path: Path) -> None:
    """With only capture_output on, an event reaches the try log once, not again via logging."""
    logging.getLogger("asyncflow").setLevel(logging.INFO)  # records reach the try-log handler
    try:
        _, log = await run_chatty(tmp_path, process=ProcessSetup(capture_output=True))
    finally:
        logging.getLogger("asyncflow").setLevel(logging.NOTSET)
    text = log.read_text()
    assert "PRINTED by the task" in text
    assert text.count("task_failed") == 1
