"""FileSensor: paths, globs, directories, the worker thread, and waiting on an engine."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from sensor_helpers import LIMIT, MODES

from asyncflow import DAG, DagDefinitionError, DagRunState, Engine, PokeReturnValue
from asyncflow.testing import watch_pokes
from sensors import FileSensor, filesystem

pytestmark = pytest.mark.anyio

TREE = [
    "in/a.csv",
    "in/b.csv",
    "in/c.txt",
    "in/.hidden.csv",
    "in/deep/er/d.csv",
    "in/empty/",
    "in/hollow/inner/",
    "in/full/sub/e.json",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder holding TREE: files, an empty directory and nested ones."""
    for entry in TREE:
        path = tmp_path / entry
        if entry.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x")
    return tmp_path


async def poke_once(filepath: str | Path, **kwargs: Any) -> bool | PokeReturnValue:
    """One poke of a fresh FileSensor, outside any engine."""
    with DAG("files"):
        sensor = FileSensor(filepath, task_id="look", **kwargs)
    with anyio.fail_after(LIMIT):
        return await sensor.poke({})


@pytest.mark.parametrize(
    ("pattern", "recursive", "expected"),
    [
        ("in/a.csv", False, ["in/a.csv"]),
        ("in/*.csv", False, ["in/a.csv", "in/b.csv"]),
        ("in/?.csv", False, ["in/a.csv", "in/b.csv"]),
        ("in/[bc].*", False, ["in/b.csv", "in/c.txt"]),
        ("in/**/*.csv", True, ["in/a.csv", "in/b.csv", "in/deep/er/d.csv"]),
        ("in/**/*.csv", False, []),
        ("in/*/*/*.csv", False, ["in/deep/er/d.csv"]),
        ("in/full", False, ["in/full"]),
        ("in/*", False, ["in/a.csv", "in/b.csv", "in/c.txt", "in/deep", "in/full"]),
        ("in/empty", False, []),
        ("in/hollow", False, []),
        ("in/missing.csv", False, []),
    ],
    ids=[
        "plain-path",
        "star",
        "question-mark",
        "brackets",
        "double-star-recursive",
        "double-star-not-recursive",
        "explicit-depth",
        "directory-with-a-file-below",
        "skips-empty-directories",
        "empty-directory",
        "only-empty-subdirectories",
        "missing",
    ],
)
async def test_matches_follow_airflow_semantics(
    tree: Path, pattern: str, recursive: bool, expected: list[str]
) -> None:
    """Files match; a directory matches when a file lies somewhere below it; dotfiles need a dot."""
    result = await poke_once(tree / pattern, recursive=recursive)
    if not expected:
        assert result is False
        return
    assert isinstance(result, PokeReturnValue)
    assert result.is_done
    assert result.xcom_value == [str(tree / path) for path in expected]


async def test_a_dotfile_matches_a_pattern_that_starts_with_a_dot(tree: Path) -> None:
    """As with glob.glob, `*` skips dotfiles and `.*` finds them."""
    result = await poke_once(tree / "in" / ".*.csv")
    assert isinstance(result, PokeReturnValue)
    assert result.xcom_value == [str(tree / "in" / ".hidden.csv")]


async def test_the_filesystem_is_read_in_a_worker_thread(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The glob and walk run off the event loop's thread, so a slow mount never blocks it."""
    threads: list[int] = []
    real = filesystem.find_matches

    def spy(pattern: str, *, recursive: bool = False) -> list[str]:
        threads.append(threading.get_ident())
        return real(pattern, recursive=recursive)

    monkeypatch.setattr(filesystem, "find_matches", spy)
    assert await poke_once(tree / "in" / "a.csv")
    assert threads
    assert threading.get_ident() not in threads


@pytest.mark.parametrize("mode", MODES)
async def test_waits_for_the_file_then_passes_the_paths_downstream(
    tmp_path: Path, mode: str
) -> None:
    """The sensor pokes until a file lands mid-wait; its XCom result lists the match."""
    landing = tmp_path / "landing"
    landing.mkdir()
    async with Engine("memory://") as engine:
        with DAG(f"landing_{mode}") as built:
            sensor = FileSensor(
                str(landing / "*.parquet"), task_id="landed", poke_interval=0.01, mode=mode
            )
        probe = watch_pokes(sensor)
        started = await engine_trigger(engine, built)
        with anyio.fail_after(LIMIT):
            await probe.waiting.wait()
            (landing / "part-0.parquet").write_text("rows")
            result = await engine.wait(started, dag_id=built.dag_id)
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("landed") == [str(landing / "part-0.parquet")]
    assert probe.results[0] is False
    assert probe.results[-1] is True


async def engine_trigger(engine: Engine, built: DAG) -> str:
    """Add ``built`` to the engine, start a run and return its run id."""
    engine.add_dag(built)
    return (await engine.trigger(built.dag_id)).run_id


def test_accepts_a_path_and_airflows_fs_conn_id() -> None:
    """A pathlib.Path is kept as a string; fs_conn_id is accepted for Airflow DAGs and unused."""
    with DAG("compatible"):
        sensor = FileSensor(Path("/data/in.csv"), task_id="look", fs_conn_id="fs_data")
    assert sensor.filepath == "/data/in.csv"
    assert sensor.recursive is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filepath": ""}, "task 'look': filepath must be a non-empty path, got ''"),
        ({"filepath": 42}, "task 'look': filepath must be a non-empty path, got 42"),
        (
            {"filepath": "/data", "recursive": "yes"},
            "task 'look': recursive must be True or False, got 'yes'",
        ),
    ],
    ids=["empty", "number", "recursive"],
)
def test_bad_arguments_fail_at_definition(kwargs: dict[str, Any], message: str) -> None:
    """An empty or non-path filepath, or a non-bool recursive, fails at definition in one line."""
    with DAG("bad_files"), pytest.raises(DagDefinitionError) as info:
        FileSensor(task_id="look", **kwargs)
    assert str(info.value) == message
