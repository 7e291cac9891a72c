"""AWS Glue: ``GlueJobOperator`` starts a job run, ``GlueJobSensor`` waits for one to end.

Every ``JobRunState`` is classified (:data:`GLUE_JOB_RUN`): ``SUCCEEDED`` ends the
wait; ``FAILED``, ``TIMEOUT``, ``STOPPED``, ``ERROR`` and ``EXPIRED`` fail it with
Glue's ``ErrorMessage``; ``STARTING``, ``RUNNING``, ``STOPPING`` and ``WAITING``
mean poke again; a state Glue adds later logs a warning and is polled again.

Waiting for a run, two ways:

- ``GlueJobOperator(wait_for_completion=True)`` starts the run and polls it in
  the same try, in poke mode: it holds its slot until the run ends, and its
  ``execution_timeout`` bounds the whole wait. If the engine stops meanwhile,
  the try is interrupted and the task runs again on restart, starting a new
  run (as Airflow's operator does).
- ``GlueJobOperator(wait_for_completion=False)`` then ``GlueJobSensor(mode=
  "reschedule")``: the operator returns the run id at once and the sensor waits
  holding no slot and no coroutine, only a row in the store; a restarted engine
  resumes the same run. Prefer it for long runs. The operator itself has no
  reschedule mode (an operator's try cannot be parked), so ``mode="reschedule"``
  on it is refused with a pointer to this pattern.

``stop_job_run_on_kill=True`` stops the run (``batch_stop_job_run``) when the
operator's try is cut short by a deadline passing (its ``execution_timeout``, or
any deadline the engine's caller set around it), and only then: a graceful
engine shutdown cancels the try before any deadline, so the run is left alone,
and a crash cannot call anything. The rule is "stop on timeout, never on
restart".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import anyio

from asyncflow import AsyncflowError, FailTask, Operator
from sensors._common import Context, definition_error, short, to_delta
from sensors._extras import require_extra
from sensors.aws._task import (
    depend_on_task_results,
    failing_task,
    is_task_result,
    resolve_task_results,
    task_log,
)
from sensors.aws.client import DEFAULT_CONN_ID, AwsService, aws_service
from sensors.aws.errors import AwsError, AwsNotFound, AwsTransient
from sensors.aws.glue_logs import copy_log_lines, output_log_group
from sensors.aws.poll import AwsPollSensor, StatusRule, Verdict, json_ready

GLUE_JOB_RUN = StatusRule(
    status_path="JobRun.JobRunState",
    success_values=frozenset({"SUCCEEDED"}),
    failure_values=frozenset({"FAILED", "TIMEOUT", "STOPPED", "ERROR", "EXPIRED"}),
    running_values=frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"}),
    message_path="JobRun.ErrorMessage",
)
"""How a ``get_job_run`` response's ``JobRunState`` decides the wait."""

LOG_TOKEN_KEY = "glue_log_token"  # XCom key: where a verbose sensor's log copy got to
STOP_TIMEOUT = 30.0  # seconds allowed for the stop call made on a timeout


class GlueJobRunFailed(AsyncflowError):
    """A Glue job run the operator waited for ended in a failure state (retried like any error)."""


def run_subject(job_name: object, run_id: object) -> str:
    """How messages name a run: ``Glue job 'etl' run jr_0123``."""
    return f"Glue job {job_name!r} run {run_id}"


def _check_name(task_id: str, name: str, value: object) -> None:
    if not (isinstance(value, str) and value) and not is_task_result(value):
        raise definition_error(
            task_id, f"{name} must be a non-empty string or a task's result, got {short(value)}"
        )


class GlueJobSensor(AwsPollSensor):
    """Wait for a Glue job run to end; its XCom result is the run (``get_job_run``'s ``JobRun``).

    Built on :class:`AwsPollSensor` with :data:`GLUE_JOB_RUN`. The ``JobRun`` result
    leaves out ``Arguments``, which may carry secrets.

    Args:
        job_name: The Glue job's name.
        run_id: The run's id (``jr_...``), or the task that returned it (such as a
            ``GlueJobOperator``), or a ``@task`` call's result.
        verbose: Copy the run's CloudWatch output lines into the task log as they
            come (``glue_job_log`` events); where the copy got to is kept as the XCom
            ``glue_log_token``, so reschedule mode and restarts copy each line once.
        aws_conn_id: The AWS connection (default ``aws_default``).
        region_name: A region overriding the connection's.
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: ``job_name`` or ``run_id`` is empty or not a string.

    Example:
        >>> with DAG("nightly_etl"):  # doctest: +SKIP
        ...     submit = GlueJobOperator(
        ...         task_id="submit", job_name="etl", wait_for_completion=False
        ...     )
        ...     done = GlueJobSensor(
        ...         task_id="done", job_name="etl", run_id=submit,
        ...         mode="reschedule", poke_interval=60, verbose=True,
        ...     )
    """

    def __init__(
        self,
        job_name: Any,
        run_id: Any,
        *,
        verbose: bool = False,
        aws_conn_id: str = DEFAULT_CONN_ID,
        region_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            "glue",
            "get_job_run",
            {"JobName": job_name, "RunId": run_id, "PredecessorsIncluded": False},
            GLUE_JOB_RUN.status_path,
            GLUE_JOB_RUN.success_values,
            GLUE_JOB_RUN.failure_values,
            GLUE_JOB_RUN.message_path,
            running_values=GLUE_JOB_RUN.running_values,
            result_path="JobRun",
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            **kwargs,
        )
        _check_name(self.task_id, "job_name", job_name)
        _check_name(self.task_id, "run_id", run_id)
        if not isinstance(verbose, bool):
            raise definition_error(self.task_id, f"verbose must be True or False, got {verbose!r}")
        self.job_name = job_name
        self.run_id = run_id
        self.verbose = verbose

    def subject(self, params: Mapping[str, Any]) -> str:
        """``Glue job 'etl' run jr_0123``."""
        return run_subject(params.get("JobName"), params.get("RunId"))

    def xcom_value(self, response: Mapping[str, Any]) -> Any:
        """The ``JobRun``, without its ``Arguments``."""
        run = dict(response.get("JobRun") or {})
        run.pop("Arguments", None)
        return json_ready(run)

    async def observe(
        self, response: Mapping[str, Any], params: Mapping[str, Any], context: Context
    ) -> None:
        """With ``verbose``, copy the log lines written since the previous poke."""
        if not self.verbose:
            return
        run_id = str(params["RunId"])
        ti = context["ti"]
        saved = await ti.xcom_pull(
            task_ids=self.task_id, key=LOG_TOKEN_KEY, map_indexes=ti.map_index
        )
        token = (
            saved.get("token")
            if isinstance(saved, dict) and saved.get("run_id") == run_id
            else None
        )
        logs = await aws_service(self.aws_conn_id, "logs", self.region_name)
        group = output_log_group(response.get("JobRun") or {})
        following = await copy_log_lines(
            logs, group=group, run_id=run_id, token=token, log=task_log(context)
        )
        if following != token:
            await ti.xcom_push(LOG_TOKEN_KEY, {"run_id": run_id, "token": following})


class GlueJobOperator(Operator):
    """Start a Glue job run; its XCom result is the ``JobRunId``.

    The job must exist (create it with the Glue console, CloudFormation or
    Terraform); this operator starts runs of it. With ``wait_for_completion`` it
    polls the run until it ends, in poke mode (see the module docs for the
    reschedule-mode pattern with :class:`GlueJobSensor`).

    Args:
        job_name: The Glue job to run.
        script_args: The run's ``Arguments`` (``{"--day": "2024-01-01"}``); values
            may be task results.
        run_job_kwargs: More ``start_job_run`` parameters (``Timeout``,
            ``ExecutionClass``, ``NotificationProperty``, ``SecurityConfiguration``...).
        num_of_dpus: ``MaxCapacity``: DPUs for the run (not with ``worker_type``).
        worker_type: ``WorkerType`` (``"G.1X"``, ``"G.2X"``...).
        number_of_workers: ``NumberOfWorkers``.
        wait_for_completion: Poll the run until it ends; a run ending in a failure
            state fails the try with Glue's message (``GlueJobRunFailed``, so
            ``retries`` start a new run, as in Airflow).
        mode: ``"poke"`` only (see the module docs).
        poke_interval: Time between polls (``timedelta`` or seconds; default 6 s).
        verbose: Copy the run's CloudWatch output lines into the task log as it runs.
        stop_job_run_on_kill: Stop the run when a deadline (``execution_timeout``)
            cuts the wait short; never on an engine shutdown or restart.
        aws_conn_id: The AWS connection (default ``aws_default``).
        region_name: A region overriding the connection's.
        **kwargs: The keywords every task accepts (see :class:`~asyncflow.Operator`).

    Raises:
        DagDefinitionError: a keyword above is given wrongly, or ``mode="reschedule"``.

    Example:
        >>> with DAG("nightly_etl"):  # doctest: +SKIP
        ...     etl = GlueJobOperator(
        ...         task_id="etl",
        ...         job_name="nightly-etl",
        ...         script_args={"--day": "2024-01-01"},
        ...         worker_type="G.1X",
        ...         number_of_workers=4,
        ...         poke_interval=30,
        ...         verbose=True,
        ...         execution_timeout=3600,
        ...         stop_job_run_on_kill=True,
        ...     )
    """

    ui_color = "#ededed"

    def __init__(
        self,
        *,
        job_name: Any,
        script_args: Mapping[str, Any] | None = None,
        run_job_kwargs: Mapping[str, Any] | None = None,
        num_of_dpus: float | None = None,
        worker_type: str | None = None,
        number_of_workers: int | None = None,
        wait_for_completion: bool = True,
        mode: str = "poke",
        poke_interval: timedelta | float = 6,
        verbose: bool = False,
        stop_job_run_on_kill: bool = False,
        aws_conn_id: str = DEFAULT_CONN_ID,
        region_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        require_extra("aws", type(self).__name__)
        super().__init__(**kwargs)
        where = self.task_id
        _check_name(where, "job_name", job_name)
        if mode != "poke":
            raise definition_error(
                where,
                f"GlueJobOperator waits in poke mode only, got mode={mode!r}; to free the "
                "slot while the run goes on, use wait_for_completion=False followed by a "
                "GlueJobSensor(mode='reschedule')",
            )
        for name, flag in (
            ("wait_for_completion", wait_for_completion),
            ("verbose", verbose),
            ("stop_job_run_on_kill", stop_job_run_on_kill),
        ):
            if not isinstance(flag, bool):
                raise definition_error(where, f"{name} must be True or False, got {flag!r}")
        self.job_name = job_name
        self.script_args: dict[str, Any] = _mapping(where, "script_args", script_args)
        self.run_job_kwargs = {
            **_mapping(where, "run_job_kwargs", run_job_kwargs),
            **_capacity(where, num_of_dpus, worker_type, number_of_workers),
        }
        self.wait_for_completion = wait_for_completion
        self.mode = mode
        self.poke_interval = to_delta(poke_interval, name="poke_interval", task_id=where)
        if self.poke_interval.total_seconds() <= 0:
            raise definition_error(where, f"poke_interval must be positive, got {poke_interval!r}")
        self.verbose = verbose
        self.stop_job_run_on_kill = stop_job_run_on_kill
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        depend_on_task_results(self, job_name, self.script_args, self.run_job_kwargs)

    async def execute(self, context: Context) -> str:
        """Start the run, and with ``wait_for_completion`` poll it to its end."""
        log = task_log(context)
        with failing_task():
            job_name = str(await resolve_task_results(self.job_name, context))
            glue = await aws_service(self.aws_conn_id, "glue", self.region_name)
            run_id = await self._start(glue, job_name, context, log)
            if not self.wait_for_completion:
                return run_id
            deadline = anyio.current_effective_deadline()
            try:
                await self._wait(glue, job_name, run_id, log)
            except anyio.get_cancelled_exc_class():
                if self.stop_job_run_on_kill and anyio.current_time() >= deadline:
                    await self._stop(glue, job_name, run_id, log)
                raise
        return run_id

    async def _start(self, glue: AwsService, job_name: str, context: Context, log: Any) -> str:
        params: dict[str, Any] = {"JobName": job_name, **self.run_job_kwargs}
        arguments = await resolve_task_results(self.script_args, context)
        if arguments:
            params["Arguments"] = {str(key): str(value) for key, value in arguments.items()}
        try:
            response = await glue.call("start_job_run", **params)
        except AwsNotFound:
            raise FailTask(
                f"Glue job {job_name!r} does not exist (aws_conn_id {glue.conn_id!r})"
            ) from None
        run_id = str(response["JobRunId"])
        log.info("glue_job_run_started", job_name=job_name, job_run_id=run_id)
        return run_id

    async def _wait(self, glue: AwsService, job_name: str, run_id: str, log: Any) -> None:
        subject = run_subject(job_name, run_id)
        logs = (
            await aws_service(self.aws_conn_id, "logs", self.region_name) if self.verbose else None
        )
        token: str | None = None
        while True:
            try:
                response = await glue.call(
                    "get_job_run", JobName=job_name, RunId=run_id, PredecessorsIncluded=False
                )
            except AwsTransient as error:
                log.warning("aws_poll_transient_error", subject=subject, error=str(error))
            else:
                if logs is not None:
                    group = output_log_group(response.get("JobRun") or {})
                    token = await copy_log_lines(
                        logs, group=group, run_id=run_id, token=token, log=log
                    )
                reading = GLUE_JOB_RUN.read(response)
                if reading.verdict is Verdict.SUCCESS:
                    log.info("glue_job_run_succeeded", job_name=job_name, job_run_id=run_id)
                    return
                if reading.verdict is Verdict.FAILURE:
                    message = f"{subject} ended {reading.status}"
                    raise GlueJobRunFailed(
                        f"{message}: {reading.message}" if reading.message else message
                    )
                if reading.verdict is Verdict.UNKNOWN:
                    log.warning(
                        "aws_poll_unknown_status",
                        subject=subject,
                        status=reading.status,
                        known=GLUE_JOB_RUN.known_values,
                    )
            await anyio.sleep(self.poke_interval.total_seconds())

    async def _stop(self, glue: AwsService, job_name: str, run_id: str, log: Any) -> None:
        """Stop the run; shielded, as the try is being cancelled, and bounded."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_TIMEOUT):
            try:
                response = await glue.call(
                    "batch_stop_job_run", JobName=job_name, JobRunIds=[run_id]
                )
            except AwsError as error:
                log.error(
                    "glue_job_run_stop_failed",
                    job_name=job_name,
                    job_run_id=run_id,
                    error=str(error),
                )
                return
            errors = response.get("Errors") or []
            if errors:
                detail = errors[0].get("ErrorDetail") or {}
                log.error(
                    "glue_job_run_stop_failed",
                    job_name=job_name,
                    job_run_id=run_id,
                    error=str(detail.get("ErrorMessage") or detail),
                )
            else:
                log.warning(
                    "glue_job_run_stopped", job_name=job_name, job_run_id=run_id, reason="timeout"
                )


def _mapping(task_id: str, name: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise definition_error(
            task_id, f"{name} must be a dict with string keys, got {short(value)}"
        )
    return dict(value)


def _capacity(
    task_id: str, dpus: float | None, worker_type: str | None, workers: int | None
) -> dict[str, Any]:
    if dpus is not None and (worker_type is not None or workers is not None):
        raise definition_error(
            task_id,
            "num_of_dpus (MaxCapacity) cannot be combined with worker_type/number_of_workers",
        )
    chosen = {"MaxCapacity": dpus, "WorkerType": worker_type, "NumberOfWorkers": workers}
    return {key: value for key, value in chosen.items() if value is not None}
