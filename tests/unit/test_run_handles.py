"""Waiting on runs: what trigger() returned is enough; a bare run_id shared by DAGs needs dag_id."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest

from asyncflow import DAG, DagRunState, Engine, task
from asyncflow.exceptions import DagRunNotFound, EngineError

pytestmark = pytest.mark.anyio

SAME_DAY = datetime(2026, 3, 1, tzinfo=UTC)


def named_dag(dag_id: str) -> DAG:
    """A DAG whose one task returns the DAG's id."""
    with DAG(dag_id) as built:

        @task
        async def whoami() -> str:
            return dag_id

        whoami()
    return built


async def test_waiting_on_each_handle_returns_its_own_run() -> None:
    """Two DAGs triggered for one logical date share a run_id; each handle waits on its run."""
    async with Engine("memory://", dags=[named_dag("alpha"), named_dag("beta")]) as engine:
        alpha = await engine.trigger("alpha", logical_date=SAME_DAY)
        beta = await engine.trigger("beta", logical_date=SAME_DAY)
        assert alpha.run_id == beta.run_id
        with anyio.fail_after(10):
            alpha_done = await engine.wait(alpha, timeout=10)
            beta_done = await engine.wait(beta)
        assert (alpha_done.dag_id, alpha_done.xcom("whoami")) == ("alpha", "alpha")
        assert (beta_done.dag_id, beta_done.xcom("whoami")) == ("beta", "beta")
        assert alpha_done.state is beta_done.state is DagRunState.SUCCESS
        assert (await engine.get_run(beta)).xcom("whoami") == "beta"


async def test_a_bare_run_id_shared_by_two_dags_is_ambiguous_until_dag_id_chooses() -> None:
    """wait(run_id) names both DAGs and asks for dag_id=; with dag_id= it returns that DAG's run."""
    async with Engine("memory://", dags=[named_dag("alpha"), named_dag("beta")]) as engine:
        alpha = await engine.trigger("alpha", logical_date=SAME_DAY)
        await engine.trigger("beta", logical_date=SAME_DAY)
        with anyio.fail_after(10):
            with pytest.raises(DagRunNotFound) as info:
                await engine.wait(alpha.run_id)
            chosen = await engine.wait(alpha.run_id, 10, "beta")  # the documented positional order
            by_keyword = await engine.wait(alpha.run_id, dag_id="alpha")
        with pytest.raises(DagRunNotFound, match="pass dag_id="):
            await engine.get_run(alpha.run_id)
    message = str(info.value)
    assert "alpha, beta" in message
    assert "pass dag_id=" in message
    assert "\n" not in message
    assert (chosen.dag_id, chosen.xcom("whoami")) == ("beta", "beta")
    assert (by_keyword.dag_id, by_keyword.xcom("whoami")) == ("alpha", "alpha")


async def test_a_handle_with_another_dags_id_is_refused() -> None:
    """Passing dag_id= that contradicts the handle's DAG is a one-line error, not a wrong run."""
    async with Engine("memory://", dags=[named_dag("alpha"), named_dag("beta")]) as engine:
        alpha = await engine.trigger("alpha", logical_date=SAME_DAY)
        with pytest.raises(EngineError, match=r"does not match run .* of DAG 'alpha'"):
            await engine.wait(alpha, dag_id="beta")
        with anyio.fail_after(10):
            assert (await engine.wait(alpha, dag_id="alpha")).dag_id == "alpha"
