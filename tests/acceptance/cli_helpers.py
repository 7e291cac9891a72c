"""Running the ``asyncflow`` command line in subprocesses, and reading what it left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio

from asyncflow.records import DagRunRecord, TaskInstanceRecord
from asyncflow.storage import open_store
from asyncflow.storage.protocol import Store

T = TypeVar("T")

TIMEOUT = 60  # seconds any one command may take


def cli_env(home: Path, **env: str) -> dict[str, str]:
    """The environment of a command: ASYNCFLOW_HOME, no other ASYNCFLOW_ setting unless given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCFLOW_")}
    return {**clean, "ASYNCFLOW_HOME": str(home), "PYTHONUNBUFFERED": "1", **env}


def asyncflow(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one command to its end."""
    return subprocess.run(
        [sys.executable, "-m", "asyncflow.cli", *args],
        env=cli_env(home, **env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def asyncflow_each(home: Path, *commands: Sequence[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run several independent commands at once (they start in a second each); their results."""
    started = [
        (
            list(args),
            subprocess.Popen(
                [sys.executable, "-m", "asyncflow.cli", *args],
                env=cli_env(home),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
            ),
        )
        for args in commands
    ]
    done = []
    for args, process in started:
        out, err = process.communicate(timeout=TIMEOUT)
        done.append(subprocess.CompletedProcess(args, process.returncode, out, err))
    return done


def assert_one_line_error(
    done: subprocess.CompletedProcess[str], *fragments: str, code: int = 2
) -> None:
    """The command failed with ``code``, printing nothing on stdout and one line on stderr."""
    assert done.returncode == code, (done.args, done.stdout, done.stderr)
    assert done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def write(folder: Path, name: str, text: str) -> Path:
    """Write a (dedented) file, creating its folder."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def wait_until(what: str, check: Callable[[], T | None], timeout: float = 30) -> T:
    """Poll ``check`` until it returns something truthy (bounded); return that."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout} s for {what}")
        time.sleep(0.2)


def read_store(home: Path, read: Callable[[Store], Awaitable[T]]) -> T:
    """What ``read`` finds in the home's SQLite store, opened directly (no engine)."""

    async def main() -> T:
        store = open_store(f"sqlite:///{home / 'asyncflow.db'}")
        await store.open()
        try:
            return await read(store)
        finally:
            await store.close()

    return anyio.run(main)


def stored_runs(home: Path, dag_id: str | None = None) -> list[DagRunRecord]:
    """The runs in the home's store, newest first."""
    return read_store(home, lambda store: store.list_runs(dag_id))


def stored_instances(home: Path, dag_id: str, run_id: str) -> list[TaskInstanceRecord]:
    """The task instances of one run in the home's store."""
    return read_store(home, lambda store: store.get_task_instances(dag_id, run_id))


def stored_paused(home: Path) -> set[str]:
    """The DAGs the home's store has paused."""
    return read_store(home, lambda store: store.get_paused_dag_ids())


SCHEDULER_POLL = "0.5"
"""How often a served engine looks at the store (default 5 s): so that runs queued and
pauses written by other commands are taken up in half a second, the same way."""


class Served:
    """An ``asyncflow run`` (or ``standalone``) subprocess, its output going to files."""

    def __init__(self, home: Path, command: str = "run", *args: str, **env: str) -> None:
        env = {"ASYNCFLOW_SCHEDULER_POLL": SCHEDULER_POLL, **env}
        self.home = home
        self.out = home / f"{command}.out"
        self.err = home / f"{command}.err"
        home.mkdir(parents=True, exist_ok=True)
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "asyncflow.cli", command, *args],
                env=cli_env(home, **env),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        wait_until(f"`asyncflow {command}` to start", self._started, timeout=TIMEOUT)

    def _started(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"exited {self.process.returncode}: {self.err.read_text()}")
        return "task logs" in self.out.read_text()

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log events named ``name`` written so far."""
        found = []
        for line in self.err.read_text().splitlines():
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == name:
                    found.append(event)
        return found

    def stop(self, timeout: float = TIMEOUT) -> int:
        """SIGTERM, then its exit code (bounded)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Its exit code, once it has exited (killed after ``timeout`` seconds)."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
