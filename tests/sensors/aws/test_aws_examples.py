"""The AWS examples (examples/_aws) load, run on moto with dag.test() and show their pattern.

They live in a folder starting with ``_`` so that the DAG loader, and with it
``scripts/run-examples`` and tests/integration/test_examples.py (which run every
example without any AWS), skip them; this module runs them against the moto
server instead, and the Glue example's failure path against the local Glue fake.
"""

from __future__ import annotations

import ast
import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from aws_helpers import Moto, connection_uri
from fake_glue import FakeGlue

from asyncflow import DagRunState, TaskState
from asyncflow.dag_loader import DagBag, load_dags

EXAMPLES = Path(__file__).parents[3] / "examples" / "_aws"
DAY = datetime(2024, 1, 1, tzinfo=UTC)
EXAMPLE_IDS = ["aws_athena_poll", "aws_glue_poll_for_job", "aws_s3_file_arrives"]


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return load_dags(EXAMPLES)


def moto_setup() -> ModuleType:
    """examples/_aws/_moto_setup.py, the scene-setting script the docstrings point to."""
    spec = importlib.util.spec_from_file_location("aws_moto_setup", EXAMPLES / "_moto_setup.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_aws_examples_load_and_the_generic_runners_skip_them(bag: DagBag) -> None:
    """Each file defines the DAG named after it; the examples folder's loader does not see them."""
    assert bag.errors == {}
    assert sorted(bag.dags) == EXAMPLE_IDS
    assert not set(load_dags(EXAMPLES.parent).dags) & set(EXAMPLE_IDS)
    for dag_id in EXAMPLE_IDS:
        docstring = ast.get_docstring(ast.parse((EXAMPLES / f"{dag_id}.py").read_text()))
        assert docstring is not None
        assert "moto_server -H 127.0.0.1 -p 5000" in docstring
        assert "ASYNCFLOW_CONN_AWS_DEFAULT=" in docstring


def test_the_glue_example_publishes_when_the_run_succeeds(moto: Moto, bag: DagBag) -> None:
    """On moto the run succeeds: the reschedule sensor returns it and the branch publishes."""
    moto_setup().prepare("2024-01-01")
    result = bag.dags["aws_glue_poll_for_job"].test(logical_date=DAY)
    assert result.state is DagRunState.SUCCESS, [
        (t.task_id, t.error) for t in result.task_instances
    ]
    run_id = result.xcom("submit")
    assert result.xcom("finished")["Id"] == run_id
    assert result.ti("alert").state is TaskState.SKIPPED
    assert result.xcom("publish") == f"published the output of {run_id} (SUCCEEDED)"


def test_the_glue_example_alerts_when_the_run_fails(
    fake_glue: FakeGlue, monkeypatch: pytest.MonkeyPatch, bag: DagBag
) -> None:
    """A FAILED run fails the sensor with Glue's message, and the branch alerts."""
    fake_glue.script("nightly-etl", "FAILED", error_message="out of memory")
    monkeypatch.setenv("ASYNCFLOW_CONN_AWS_DEFAULT", connection_uri(fake_glue.url))
    result = bag.dags["aws_glue_poll_for_job"].test(logical_date=DAY)
    assert result.state is DagRunState.SUCCESS
    sensor = result.ti("finished")
    assert sensor.state is TaskState.FAILED
    assert (
        sensor.error == "FailTask: Glue job 'nightly-etl' run jr_0001 ended FAILED: out of memory"
    )
    assert result.ti("publish").state is TaskState.SKIPPED
    assert result.xcom("alert") == "Glue run jr_0001 did not succeed: see task 'finished'"
    assert fake_glue.runs["jr_0001"].request["Arguments"] == {"--day": "2024-01-01"}


def test_the_s3_example_waits_for_the_days_file_and_totals_it(moto: Moto, bag: DagBag) -> None:
    """The sensor finds incoming/<ds>/orders.csv; the next task totals it and writes a summary."""
    moto_setup().prepare("2024-01-01")
    result = bag.dags["aws_s3_file_arrives"].test(logical_date=DAY)
    assert result.state is DagRunState.SUCCESS, [
        (t.task_id, t.error) for t in result.task_instances
    ]
    assert result.xcom("landed")[0]["Key"] == "incoming/2024-01-01/orders.csv"
    assert result.xcom("process") == {"orders": 3, "total": "67.49"}
    listed = moto_setup().client("s3").list_objects_v2(Bucket="asyncflow-demo", Prefix="processed/")
    assert [o["Key"] for o in listed["Contents"]] == ["processed/2024-01-01/summary.json"]


def test_the_athena_example_polls_the_query_to_its_result_location(moto: Moto, bag: DagBag) -> None:
    """The generic poll sensor follows the query and returns where its results are."""
    result = bag.dags["aws_athena_poll"].test(logical_date=DAY)
    assert result.state is DagRunState.SUCCESS, [
        (t.task_id, t.error) for t in result.task_instances
    ]
    query_id = result.xcom("start_query")
    assert result.xcom("query_done") == f"s3://asyncflow-demo/athena/{query_id}.csv"
    assert (
        result.xcom("report") == f"query results are at s3://asyncflow-demo/athena/{query_id}.csv"
    )
