"""Param, as in Airflow: defaults checked at definition, a run's conf checked at trigger."""

from __future__ import annotations

from typing import Any

import pytest

from asyncflow import DAG, DagDefinitionError, DagRunState, Engine, Param, task
from asyncflow.exceptions import ParamValidationError


def report(**schema: Any) -> DAG:
    """A manual DAG whose `show` task returns the params it sees."""
    with DAG(
        "report",
        params={"days": Param(7, type="integer", minimum=1), "region": "eu", **schema},
    ) as built:

        @task
        def show(params: dict[str, Any]) -> dict[str, Any]:
            return params

        show()
    return built


def test_a_task_sees_plain_values_defaults_and_the_runs_conf() -> None:
    """Params are the Param defaults and plain values, updated by the conf, as plain values."""
    result = report().test(conf={"days": 3, "extra": True})
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("show") == {"days": 3, "region": "eu", "extra": True}
    assert report().test().xcom("show") == {"days": 7, "region": "eu"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"days": 0}, "DAG 'report': param 'days' is not valid: 0 is less than the minimum of 1"),
        ({"days": "7"}, "DAG 'report': param 'days' is not valid: '7' is not of type 'integer'"),
        ({}, "DAG 'report': param 'token' is required and has no default"),
    ],
)
async def test_a_conf_the_params_refuse_is_one_error_at_trigger_and_no_run(
    conf: dict[str, Any], message: str
) -> None:
    """trigger() raises naming the param and why; no run is created."""
    built = report(token=Param(type="string"))
    async with Engine("memory://", dags=[built]) as engine:
        with pytest.raises(ParamValidationError) as refused:
            await engine.trigger("report", conf={"token": "t", **conf} if conf else conf)
        assert str(refused.value) == message
        assert await engine.store.list_runs("report") == []


def test_a_default_the_schema_refuses_fails_at_definition() -> None:
    """A Param whose own default is not valid is a definition error naming it."""
    with pytest.raises(DagDefinitionError) as refused:
        DAG("bad_default", params={"n": Param(-1, type="integer", minimum=0)})
    assert str(refused.value) == (
        "DAG 'bad_default': param 'n' is not valid: -1 is less than the minimum of 0 (its default)"
    )


def test_a_scheduled_dag_with_a_required_param_is_refused() -> None:
    """Scheduled runs have no conf, so every Param of a scheduled DAG needs a default."""
    with pytest.raises(DagDefinitionError, match="param 'day' has no default, so the DAG cannot"):
        DAG("nightly", schedule="@daily", params={"day": Param(type="string")})


def test_a_schema_that_is_not_json_schema_is_refused() -> None:
    """A Param with a broken schema fails when it is made."""
    with pytest.raises(DagDefinitionError, match="Param schema is not valid"):
        Param(1, type="no-such-type")
