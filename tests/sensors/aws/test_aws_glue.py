"""GlueJobOperator and GlueJobSensor, against moto and a local Glue fake.

moto drives what it can: its job runs go STARTING, RUNNING, SUCCEEDED (paced by
its state manager's "manual" progression), its CloudWatch Logs serve the run's
output lines. Everything moto's Glue cannot do, runs ending FAILED, ERROR,
STOPPED, TIMEOUT or EXPIRED with an ``ErrorMessage``, unknown states and
``batch_stop_job_run``, is served by the local fake in ``fake_glue.py``
(``StartJobRun``, ``GetJobRun`` and ``BatchStopJobRun`` over Glue's real JSON
protocol on 127.0.0.1).
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import anyio
import anyio.to_thread
import pytest
import structlog
from aws_helpers import LIMIT, MODES, Moto, run, try_log
from fake_glue import FakeGlue

from asyncflow import DAG, DagDefinitionError, DagRunResult, DagRunState, Engine, TaskState
from asyncflow.settings import Settings
from sensors import GlueJobOperator, GlueJobSensor
from sensors.aws import GLUE_JOB_RUN, Verdict
from sensors.aws.client import AwsOptions, _prepared_session

pytestmark = pytest.mark.anyio

FAST = {"poke_interval": 0.05}
FAKE = {"aws_conn_id": "glue_fake"}


async def create_job(moto: Moto, name: str = "etl") -> None:
    async with moto.client("glue") as glue:
        await glue.create_job(
            Name=name,
            Role="glue-role",
            Command={"Name": "glueetl", "ScriptLocation": "s3://code/etl.py"},
        )


@pytest.fixture
def glue_models() -> None:
    """Load botocore's Glue models now, so a short execution_timeout is all spent polling."""
    _prepared_session("glue", AwsOptions(conn_id="warm-up"))


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        ("SUCCEEDED", Verdict.SUCCESS),
        ("FAILED", Verdict.FAILURE),
        ("TIMEOUT", Verdict.FAILURE),
        ("STOPPED", Verdict.FAILURE),
        ("ERROR", Verdict.FAILURE),
        ("EXPIRED", Verdict.FAILURE),
        ("STARTING", Verdict.RUNNING),
        ("RUNNING", Verdict.RUNNING),
        ("STOPPING", Verdict.RUNNING),
        ("WAITING", Verdict.RUNNING),
        ("HIBERNATING", Verdict.UNKNOWN),
    ],
)
def test_every_job_run_state_is_classified(state: str, verdict: Verdict) -> None:
    """The ten JobRunStates each have their verdict; anything else is unknown."""
    assert GLUE_JOB_RUN.verdict(state) is verdict


# --- moto -----------------------------------------------------------------------------
async def test_the_operator_starts_a_run_waits_for_it_and_returns_its_id(moto: Moto) -> None:
    """The run goes STARTING, RUNNING, SUCCEEDED on moto; the XCom result is its JobRunId."""
    await create_job(moto)
    moto.set_transition("glue::job_run", {"progression": "manual", "times": 2})
    with DAG("glue_operator") as built:
        GlueJobOperator(task_id="etl", job_name="etl", script_args={"--day": "2024-01-01"}, **FAST)
    result = await run(built)
    assert result.state is DagRunState.SUCCESS
    run_id = result.xcom("etl")
    assert run_id.startswith("jr_")
    async with moto.client("glue") as glue:
        job_run = (await glue.get_job_run(JobName="etl", RunId=run_id))["JobRun"]
    assert job_run["JobRunState"] == "SUCCEEDED"
    assert job_run["Arguments"] == {"--day": "2024-01-01"}


async def test_a_reschedule_sensor_follows_a_run_started_without_waiting(moto: Moto) -> None:
    """wait_for_completion=False returns at once; the sensor takes the run id from the operator."""
    await create_job(moto)
    moto.set_transition("glue::job_run", {"progression": "manual", "times": 2})
    with DAG("glue_sensor") as built:
        submit = GlueJobOperator(
            task_id="submit",
            job_name="etl",
            script_args={"--token": "t0ps3cret"},
            wait_for_completion=False,
        )
        sensor = GlueJobSensor("etl", submit, task_id="done", mode="reschedule", **FAST)
    assert sensor.upstream_task_ids == {"submit"}
    result = await run(built)
    assert result.state is DagRunState.SUCCESS
    job_run = result.xcom("done")
    assert (job_run["Id"], job_run["JobRunState"]) == (result.xcom("submit"), "SUCCEEDED")
    assert "Arguments" not in job_run  # they may carry secrets
    assert job_run["StartedOn"].utcoffset().total_seconds() == 0


class RunLogs:
    """A run's CloudWatch stream on moto, written by the test."""

    def __init__(self, logs: Any, run_id: str, group: str = "test/log/output") -> None:
        self.logs = logs  # moto's runs report LogGroupName "test/log"
        self.run_id = run_id
        self.group = group

    async def create(self) -> None:
        await self.logs.create_log_group(logGroupName=self.group)
        await self.logs.create_log_stream(logGroupName=self.group, logStreamName=self.run_id)

    async def write(self, *lines: str) -> None:
        now = int(time.time() * 1000)
        events = [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)]
        await self.logs.put_log_events(
            logGroupName=self.group, logStreamName=self.run_id, logEvents=events
        )


def copied_lines(result: DagRunResult, task_id: str, run_id: str) -> list[str]:
    """The glue_job_log lines of a task's first try log, each reduced to its text."""
    found = []
    for line in try_log(result, task_id).splitlines():
        if "glue_job_log" in line:
            assert run_id in line
            found.append(json.loads(line[line.index("{") :])["line"])
    return found


@pytest.mark.parametrize("mode", MODES)
async def test_verbose_copies_each_log_line_once_as_it_comes(moto: Moto, mode: str) -> None:
    """Lines written before and during the wait reach the try log once each, in order."""
    await create_job(moto)
    moto.set_transition("glue::job_run", {"progression": "manual", "times": 2})
    written = anyio.Event()
    async with moto.client("glue") as glue, moto.client("logs") as logs:
        run_id = (await glue.start_job_run(JobName="etl"))["JobRunId"]
        stream = RunLogs(logs, run_id)
        await stream.create()
        await stream.write("reading input", "12 partitions")
        with DAG(f"glue_verbose_{mode}") as built:
            sensor = GlueJobSensor("etl", run_id, task_id="done", verbose=True, mode=mode, **FAST)
        poke = sensor.poke

        async def held(context: Any) -> Any:
            result = await poke(context)
            if not result and not written.is_set():
                await stream.write("wrote 1234 rows")  # between this poke and the next
                written.set()
            return result

        sensor.poke = held  # type: ignore[method-assign]
        async with Engine("memory://", dags=[built], task_logs=True) as engine:
            with anyio.fail_after(LIMIT):
                result = await engine.run(built.dag_id)
    assert result.state is DagRunState.SUCCESS
    assert written.is_set()
    assert copied_lines(result, "done", run_id) == [
        "reading input",
        "12 partitions",
        "wrote 1234 rows",
    ]


async def test_the_verbose_operator_copies_its_runs_lines(moto: Moto) -> None:
    """The operator copies the lines of the run it started while it waits for it."""
    await create_job(moto)
    moto.set_transition("glue::job_run", {"progression": "manual", "times": 2})
    with DAG("glue_verbose_operator") as built:
        operator = GlueJobOperator(task_id="etl", job_name="etl", verbose=True, **FAST)
    async with moto.client("logs") as logs:
        start = operator._start

        async def start_and_write(*args: Any) -> str:
            run_id = await start(*args)
            stream = RunLogs(logs, run_id)
            await stream.create()
            await stream.write("job started", "job done")
            return run_id

        operator._start = start_and_write  # type: ignore[method-assign]
        async with Engine("memory://", dags=[built], task_logs=True) as engine:
            with anyio.fail_after(LIMIT):
                result = await engine.run(built.dag_id)
    assert result.state is DagRunState.SUCCESS
    assert copied_lines(result, "etl", result.xcom("etl")) == ["job started", "job done"]


async def test_a_job_that_does_not_exist_fails_in_one_line(moto: Moto) -> None:
    """start_job_run on a missing job fails the task without retries, naming the job."""
    with DAG("glue_missing") as built:
        GlueJobOperator(task_id="etl", job_name="nope", retries=2, **FAST)
    result = await run(built)
    ti = result.ti("etl")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error == "FailTask: Glue job 'nope' does not exist (aws_conn_id 'aws_default')"


# --- the local fake ---------------------------------------------------------------------
@pytest.mark.parametrize("final", ["FAILED", "ERROR", "STOPPED", "TIMEOUT", "EXPIRED"])
async def test_a_run_ending_in_failure_fails_the_sensor_with_glues_message(
    fake_glue: FakeGlue, final: str
) -> None:
    """The sensor polls through RUNNING and fails, without retries, quoting ErrorMessage."""
    fake_glue.script("etl", "RUNNING", final, error_message="Executor lost:\nout of memory")
    run_id = fake_glue.start_run("etl")
    with DAG(f"glue_{final}") as built:
        GlueJobSensor("etl", run_id, task_id="done", retries=2, **FAKE, **FAST)
    result = await run(built)
    ti = result.ti("done")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert (
        ti.error
        == f"FailTask: Glue job 'etl' run {run_id} ended {final}: Executor lost: out of memory"
    )


async def test_a_failed_run_fails_the_operators_try_and_a_retry_starts_a_new_run(
    fake_glue: FakeGlue,
) -> None:
    """As in Airflow, the operator's failure is retried by starting the job again."""
    fake_glue.script("etl", "STARTING", "ERROR", error_message="no capacity")
    with DAG("glue_operator_retry") as built:
        GlueJobOperator(task_id="etl", job_name="etl", retries=1, retry_delay=0, **FAKE, **FAST)
    result = await run(built)
    ti = result.ti("etl")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 2)
    assert ti.error == "GlueJobRunFailed: Glue job 'etl' run jr_0002 ended ERROR: no capacity"
    assert sorted(fake_glue.runs) == ["jr_0001", "jr_0002"]


async def test_run_options_reach_start_job_run(fake_glue: FakeGlue) -> None:
    """script_args, run_job_kwargs and the worker options are sent as Glue's parameters."""
    fake_glue.script("etl", "SUCCEEDED")
    with DAG("glue_options") as built:
        GlueJobOperator(
            task_id="etl",
            job_name="etl",
            script_args={"--day": "2024-01-01", "--rows": 10},
            run_job_kwargs={"Timeout": 60},
            worker_type="G.1X",
            number_of_workers=2,
            **FAKE,
            **FAST,
        )
    result = await run(built)
    assert result.xcom("etl") == "jr_0001"
    assert fake_glue.runs["jr_0001"].request == {
        "JobName": "etl",
        "Arguments": {"--day": "2024-01-01", "--rows": "10"},
        "Timeout": 60,
        "WorkerType": "G.1X",
        "NumberOfWorkers": 2,
    }


async def test_an_unknown_state_warns_and_the_wait_goes_on(fake_glue: FakeGlue) -> None:
    """A state Glue might add later is logged as a warning; the sensor keeps polling."""
    fake_glue.script("etl", "RUNNING", "HIBERNATING", "SUCCEEDED")
    run_id = fake_glue.start_run("etl")
    with DAG("glue_unknown") as built:
        GlueJobSensor("etl", run_id, task_id="done", **FAKE, **FAST)
    with structlog.testing.capture_logs() as logs:
        result = await run(built)
    assert result.state is DagRunState.SUCCESS
    [warning] = [e for e in logs if e["event"] == "aws_poll_unknown_status"]
    assert (warning["status"], warning["subject"]) == (
        "HIBERNATING",
        f"Glue job 'etl' run {run_id}",
    )


@pytest.mark.parametrize("stop", [True, False])
async def test_an_execution_timeout_stops_the_run_only_when_asked(
    fake_glue: FakeGlue, glue_models: None, stop: bool
) -> None:
    """With stop_job_run_on_kill, a timed-out operator stops its run; without, it leaves it."""
    fake_glue.script("etl", "RUNNING")
    with DAG(f"glue_timeout_{stop}") as built:
        GlueJobOperator(
            task_id="etl",
            job_name="etl",
            # long enough to have started the job run on a busy machine, whose run it stops
            execution_timeout=1.0,
            stop_job_run_on_kill=stop,
            **FAKE,
            **FAST,
        )
    result = await run(built)
    ti = result.ti("etl")
    assert ti.state is TaskState.FAILED
    assert ti.error == "TimeoutError: task 'etl' ran longer than its execution_timeout of 1s"
    assert fake_glue.stop_requests == (["jr_0001"] if stop else [])


async def test_an_engine_shutdown_never_stops_the_run(
    fake_glue: FakeGlue, glue_models: None
) -> None:
    """A graceful shutdown interrupts the waiting operator but leaves its Glue run alone."""
    fake_glue.script("etl", "RUNNING")
    with DAG("glue_shutdown") as built:
        GlueJobOperator(
            task_id="etl",
            job_name="etl",
            execution_timeout=60,
            stop_job_run_on_kill=True,
            **FAKE,
            **FAST,
        )
    settings = dataclasses.replace(Settings.from_env(), shutdown_grace_seconds=0.05)
    async with Engine("memory://", dags=[built], settings=settings) as engine:
        with anyio.fail_after(LIMIT):
            started = await engine.trigger(built.dag_id)
            # the operator is in its polling loop once the fake has been asked for the state
            assert await anyio.to_thread.run_sync(fake_glue.polled.wait, LIMIT)
        interrupted = await engine.get_run(started.run_id)
    assert interrupted.ti("etl").state is TaskState.RUNNING
    assert fake_glue.stop_requests == []
    assert list(fake_glue.runs) == ["jr_0001"]


# --- definition ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "reschedule"}, "use wait_for_completion=False followed by a GlueJobSensor"),
        ({"num_of_dpus": 2, "worker_type": "G.1X"}, "cannot be combined"),
        ({"job_name": ""}, "job_name must be a non-empty string"),
        ({"script_args": ["--day"]}, "script_args must be a dict"),
        ({"verbose": "yes"}, "verbose must be True or False"),
        ({"poke_interval": 0}, "poke_interval must be positive"),
    ],
)
def test_wrong_operator_keywords_fail_when_the_dag_is_defined(
    kwargs: dict[str, Any], message: str
) -> None:
    """Each mistake is a DagDefinitionError naming the task."""
    arguments = {"job_name": "etl", **kwargs}
    with DAG("wrong"), pytest.raises(DagDefinitionError, match="task 'etl'") as raised:
        GlueJobOperator(task_id="etl", **arguments)
    assert message in str(raised.value)


def test_wrong_sensor_keywords_fail_when_the_dag_is_defined() -> None:
    """An empty run id is refused at definition."""
    with DAG("wrong"), pytest.raises(DagDefinitionError, match="run_id must be a non-empty string"):
        GlueJobSensor("etl", "", task_id="done")
