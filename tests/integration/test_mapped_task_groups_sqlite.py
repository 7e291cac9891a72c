"""A mapped task group on a real SQLite file: its instances and values are stored."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from asyncflow import DAG, DagRunState, Engine, task, task_group

pytestmark = pytest.mark.anyio


async def test_a_mapped_group_runs_and_is_read_back(tmp_path: Path) -> None:
    """Each instance's values survive in the store; a reopened engine reads them back."""

    @task
    def letters() -> list[str]:
        return ["a", "b"]

    @task_group
    def shout(letter: str):
        @task
        def upper(letter: str) -> str:
            return letter.upper()

        @task
        def twice(text: str) -> str:
            return text * 2

        return twice(upper(letter))

    with DAG("shouting") as built:
        shout.expand(letter=letters())
    url = f"sqlite:///{tmp_path / 'af.db'}"
    async with Engine(url, dags=[built]) as engine:
        with anyio.fail_after(10):
            first = await engine.run("shouting")
    async with Engine(url) as reopened:
        again = await reopened.get_run(first.run_id)
    assert again.state is DagRunState.SUCCESS
    assert [again.xcom("shout.twice", map_index=i) for i in (0, 1)] == ["AA", "BB"]
