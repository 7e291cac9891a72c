"""AwsPollSensor on a non-Glue API (Athena on moto), and its status rule as a pure function."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import structlog
from aws_helpers import LIMIT, MODES, Moto, run

from asyncflow import DAG, DagDefinitionError, DagRunState, Engine, TaskState, task
from sensors import AwsPollSensor
from sensors.aws import StatusRule, Verdict
from sensors.aws.client import aws_service
from sensors.aws.poll import dig

pytestmark = pytest.mark.anyio

ATHENA: dict[str, Any] = {
    "status_path": "QueryExecution.Status.State",
    "success_values": ["SUCCEEDED"],
    "failure_values": ["FAILED", "CANCELLED"],
    "running_values": ["QUEUED", "RUNNING"],
    "message_path": "QueryExecution.Status.StateChangeReason",
}


def athena_dag(dag_id: str, *, cancel: bool = False, **sensor: Any) -> DAG:
    """A query started by a task (through the engine's shared client), polled by the sensor."""
    with DAG(dag_id) as built:

        @task
        async def start_query() -> str:
            athena = await aws_service("aws_default", "athena")
            started = await athena.call(
                "start_query_execution",
                QueryString="SELECT 1",
                ResultConfiguration={"OutputLocation": "s3://results/"},
            )
            if cancel:
                await athena.call(
                    "stop_query_execution", QueryExecutionId=started["QueryExecutionId"]
                )
            return str(started["QueryExecutionId"])

        AwsPollSensor(
            "athena",
            "get_query_execution",
            {"QueryExecutionId": start_query()},
            **{**ATHENA, "task_id": "query_done", "poke_interval": 0.05, **sensor},
        )
    return built


@pytest.mark.parametrize("mode", MODES)
async def test_a_query_succeeding_after_some_polls_ends_the_wait(moto: Moto, mode: str) -> None:
    """QUEUED, RUNNING, then SUCCEEDED: the sensor polls on and returns the part asked for."""
    moto.set_transition("athena::execution", {"progression": "manual", "times": 2})
    built = athena_dag(
        f"athena_{mode}", mode=mode, result_path="QueryExecution.ResultConfiguration"
    )
    async with Engine("memory://", dags=[built]) as engine:
        with anyio.fail_after(LIMIT):
            result = await engine.run(built.dag_id)
        assert engine.resources.opened == 1  # the task and the sensor share the client
    assert result.state is DagRunState.SUCCESS
    location = result.xcom("query_done")["OutputLocation"]
    assert location == f"s3://results/{result.xcom('start_query')}.csv"
    assert result.ti("query_done").try_number == 1


@pytest.mark.parametrize(
    ("soft_fail", "state", "error"),
    [
        (False, TaskState.FAILED, "FailTask: athena get_query_execution ended CANCELLED"),
        (True, TaskState.SKIPPED, None),
    ],
)
async def test_a_failure_value_fails_the_task_or_skips_it_with_soft_fail(
    moto: Moto, soft_fail: bool, state: TaskState, error: str | None
) -> None:
    """A cancelled query fails the sensor at once (no retries), or skips it with soft_fail."""
    built = athena_dag(f"athena_cancelled_{soft_fail}", cancel=True, soft_fail=soft_fail, retries=2)
    result = await run(built)
    ti = result.ti("query_done")
    assert (ti.state, ti.try_number, ti.error) == (state, 1, error)


async def test_an_unknown_status_warns_and_polls_on(moto: Moto) -> None:
    """A status in no set logs a warning naming it, and the sensor keeps polling to success."""
    moto.set_transition("athena::execution", {"progression": "manual", "times": 2})
    built = athena_dag("athena_unknown", running_values=["QUEUED"])
    with structlog.testing.capture_logs() as logs:
        result = await run(built)
    assert result.state is DagRunState.SUCCESS
    warnings = [e for e in logs if e["event"] == "aws_poll_unknown_status"]
    assert warnings
    assert warnings[0]["status"] == "RUNNING"
    assert warnings[0]["known"] == ["CANCELLED", "FAILED", "QUEUED", "SUCCEEDED"]
    assert warnings[0]["task_id"] == "query_done"


@pytest.mark.parametrize(
    ("sensor", "error"),
    [
        (
            {"status_path": "QueryExecution.State"},
            "FailTask: athena get_query_execution: the response has no "
            "'QueryExecution.State' (it has ['QueryExecution']); check status_path",
        ),
        (
            {"operation": "get_query_executions"},
            "FailTask: AWS service 'athena' has no operation 'get_query_executions'",
        ),
        (
            {"params": {"QueryExecutionId": 42}},
            "FailTask: get_query_execution: Parameter validation failed: Invalid type for "
            "parameter QueryExecutionId, type: <class 'int'>",
        ),
        (
            {"service": "athenna"},
            "FailTask: AWS has no service 'athenna' (aws_conn_id 'aws_default')",
        ),
    ],
)
async def test_a_wrong_path_operation_or_parameter_fails_in_one_line(
    moto: Moto, sensor: dict[str, Any], error: str
) -> None:
    """Mistakes only AWS can spot fail the task at its first poke, without retries."""
    async with moto.client("athena") as athena:
        started = await athena.start_query_execution(
            QueryString="SELECT 1", ResultConfiguration={"OutputLocation": "s3://results/"}
        )
    arguments: dict[str, Any] = {
        "service": "athena",
        "operation": "get_query_execution",
        "params": {"QueryExecutionId": started["QueryExecutionId"]},
        **ATHENA,
        **sensor,
    }
    with DAG(f"wrong_{'_'.join(sensor)}") as built:
        AwsPollSensor(task_id="poll", retries=2, poke_interval=0.05, **arguments)
    result = await run(built)
    ti = result.ti("poll")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error is not None
    assert ti.error.startswith(error), ti.error
    assert "42" not in ti.error  # botocore's report quotes values; they are left out


# --- the rule, pure -------------------------------------------------------------------
RULE = StatusRule(
    status_path="Job.Status",
    success_values=frozenset({"DONE"}),
    failure_values=frozenset({"BROKEN"}),
    running_values=frozenset({"BUSY"}),
    message_path="Job.Why",
)


@pytest.mark.parametrize(
    ("response", "status", "verdict", "message"),
    [
        ({"Job": {"Status": "DONE"}}, "DONE", Verdict.SUCCESS, None),
        (
            {"Job": {"Status": "BROKEN", "Why": "disk\nfull"}},
            "BROKEN",
            Verdict.FAILURE,
            "disk full",
        ),
        ({"Job": {"Status": "BROKEN"}}, "BROKEN", Verdict.FAILURE, None),
        ({"Job": {"Status": "BUSY"}}, "BUSY", Verdict.RUNNING, None),
        ({"Job": {"Status": "NAPPING"}}, "NAPPING", Verdict.UNKNOWN, None),
        ({"Job": {}}, None, Verdict.UNKNOWN, None),
        ({"Job": {"Status": 3}}, "3", Verdict.UNKNOWN, None),
    ],
)
def test_the_rule_reads_a_status_and_decides(
    response: dict[str, Any], status: str | None, verdict: Verdict, message: str | None
) -> None:
    """Each status maps to one verdict; a failure carries its message on one line."""
    reading = RULE.read(response)
    assert (reading.status, reading.verdict, reading.message) == (status, verdict, message)


def test_without_running_values_any_other_status_is_running() -> None:
    """When running_values is not given, an unlisted status is simply not final."""
    rule = StatusRule(
        status_path="S", success_values=frozenset({"OK"}), failure_values=frozenset({"KO"})
    )
    assert rule.read({"S": "ANYTHING"}).verdict is Verdict.RUNNING


def test_dig_follows_dotted_paths_through_lists() -> None:
    """Indexes pick list items; anything missing is None."""
    response = {"Steps": [{"Status": {"State": "OK"}}]}
    assert dig(response, "Steps.0.Status.State") == "OK"
    assert dig(response, "Steps.1.Status") is None
    assert dig(response, "Steps.x") is None
    assert dig(response, "Nope.Status") is None


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        ({"status_path": "a..b"}, "status_path must be a dotted path"),
        ({"message_path": ""}, "message_path must be a dotted path"),
        ({"success_values": []}, "success_values must be a non-empty list"),
        ({"failure_values": "FAILED"}, "failure_values must be a list of strings"),
        ({"failure_values": ["SUCCEEDED"]}, "are both success_values and failure_values"),
        ({"operation": "GetQueryExecution"}, "operation must be botocore's snake_case name"),
        ({"params": ["x"]}, "params must be a dict"),
        ({"result_path": "a b"}, "result_path must be a dotted path"),
    ],
)
def test_wrong_keywords_fail_when_the_dag_is_defined(wrong: dict[str, Any], message: str) -> None:
    """Each mistake is a DagDefinitionError naming the task."""
    arguments: dict[str, Any] = {
        "service": "athena",
        "operation": "get_query_execution",
        "params": {},
        **ATHENA,
        **wrong,
    }
    with DAG("wrong"), pytest.raises(DagDefinitionError, match="task 'poll'") as raised:
        AwsPollSensor(task_id="poll", **arguments)
    assert message in str(raised.value)
