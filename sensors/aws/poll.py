"""``AwsPollSensor``: wait for any AWS job-like resource to reach a final status.

Most AWS services run work the same way: a call starts it (Glue
``start_job_run``, Athena ``start_query_execution``, Step Functions
``start_execution``, EMR, Batch, SageMaker...) and another reports its status.
One sensor covers them all: it calls ``operation`` with ``params`` at each
poke, reads the status at ``status_path`` in the response and decides with a
:class:`StatusRule`:

- a value in ``success_values``: done; the XCom value is the response (or the
  part at ``result_path``);
- a value in ``failure_values``: the task fails (``FailTask``, skipped with
  ``soft_fail``) with the message found at ``message_path``;
- a value in ``running_values``, or any other value when ``running_values`` is
  not given: poke again;
- a value in none of the given sets: a warning, and poke again (AWS adds states
  now and then; a sensor should not die of one it has not heard of).

Transient trouble (network, throttling, 5xx after botocore's retries) is a
not-done poke with a warning; a missing connection, refused credentials or
invalid parameters fail the task with one line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from asyncflow import FailTask, PokeReturnValue, Sensor, SkipTask
from sensors._common import Context, as_utc, definition_error, short
from sensors._extras import require_extra
from sensors.aws._task import (
    depend_on_task_results,
    failing_task,
    resolve_task_results,
    task_log,
)
from sensors.aws.client import DEFAULT_CONN_ID, aws_service
from sensors.aws.errors import AwsNotFound, AwsTransient

_PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


class Verdict(StrEnum):
    """What a status means for the wait."""

    SUCCESS = "success"  # a success value: the wait is over
    FAILURE = "failure"  # a failure value: the task fails
    RUNNING = "running"  # still working: poke again
    UNKNOWN = "unknown"  # a value no set names: warn, poke again


@dataclass(frozen=True, slots=True)
class Reading:
    """A status read from a response, what it means and the message beside it."""

    status: str | None  # None when the response has nothing at the status path
    verdict: Verdict
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRule:
    """Where a response holds its status, and which values end the wait how.

    Example:
        >>> rule = StatusRule(
        ...     status_path="QueryExecution.Status.State",
        ...     success_values=frozenset({"SUCCEEDED"}),
        ...     failure_values=frozenset({"FAILED", "CANCELLED"}),
        ...     running_values=frozenset({"QUEUED", "RUNNING"}),
        ...     message_path="QueryExecution.Status.StateChangeReason",
        ... )
        >>> rule.read({"QueryExecution": {"Status": {"State": "RUNNING"}}}).verdict
        <Verdict.RUNNING: 'running'>
    """

    status_path: str
    success_values: frozenset[str]
    failure_values: frozenset[str]
    running_values: frozenset[str] | None = None
    message_path: str | None = None

    def verdict(self, status: str) -> Verdict:
        """What ``status`` means."""
        if status in self.success_values:
            return Verdict.SUCCESS
        if status in self.failure_values:
            return Verdict.FAILURE
        if self.running_values is None or status in self.running_values:
            return Verdict.RUNNING
        return Verdict.UNKNOWN

    def read(self, response: Mapping[str, Any]) -> Reading:
        """The status in ``response``, its verdict and (when failed) its message."""
        status = dig(response, self.status_path)
        if status is None:
            return Reading(None, Verdict.UNKNOWN)
        text = str(status)
        verdict = self.verdict(text)
        message = None
        if verdict is Verdict.FAILURE and self.message_path is not None:
            found = dig(response, self.message_path)
            message = " ".join(str(found).split()) if found is not None else None
        return Reading(text, verdict, message)

    @property
    def known_values(self) -> list[str]:
        """Every value the rule names, sorted."""
        running = self.running_values or frozenset()
        return sorted(self.success_values | self.failure_values | running)


def dig(value: Any, path: str) -> Any:
    """The value at a dotted ``path`` (list items by index), or ``None`` if absent.

    Example:
        >>> dig({"JobRun": {"JobRunState": "RUNNING"}}, "JobRun.JobRunState")
        'RUNNING'
        >>> dig({"Steps": [{"Status": "OK"}]}, "Steps.0.Status")
        'OK'
    """
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def json_ready(value: Any) -> Any:
    """``value`` with every datetime made aware UTC (botocore's carry dateutil zones)."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, Mapping):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value


def status_rule(
    task_id: str,
    *,
    status_path: str,
    success_values: Collection[str],
    failure_values: Collection[str],
    running_values: Collection[str] | None,
    message_path: str | None,
) -> StatusRule:
    """Check a poll sensor's status keywords and build its rule.

    Raises:
        DagDefinitionError: a path is not dotted names, a set of values is empty or
            not strings, or a value is both a success and a failure.
    """
    for name, path in (("status_path", status_path), ("message_path", message_path)):
        if path is not None and (not isinstance(path, str) or not _PATH.match(path)):
            raise definition_error(
                task_id,
                f"{name} must be a dotted path like 'JobRun.JobRunState', got {short(path)}",
            )
    success = _values(task_id, "success_values", success_values)
    failure = _values(task_id, "failure_values", failure_values)
    running = None if running_values is None else _values(task_id, "running_values", running_values)
    both = sorted(success & failure)
    if both:
        raise definition_error(task_id, f"{both} are both success_values and failure_values")
    return StatusRule(
        status_path=status_path,
        success_values=success,
        failure_values=failure,
        running_values=running,
        message_path=message_path,
    )


def _values(task_id: str, name: str, values: object) -> frozenset[str]:
    if isinstance(values, str) or not isinstance(values, Collection):
        raise definition_error(task_id, f"{name} must be a list of strings, got {short(values)}")
    found = frozenset(values)
    if not found or not all(isinstance(v, str) and v for v in found):
        raise definition_error(
            task_id, f"{name} must be a non-empty list of strings, got {short(values)}"
        )
    return found


class AwsPollSensor(Sensor):
    """Poll an AWS status API until the resource reaches a success or failure value.

    Args:
        service: The botocore service name (``"athena"``, ``"stepfunctions"``, ``"glue"``...).
        operation: The snake_case botocore operation that reports the status
            (``"get_query_execution"``, ``"describe_execution"``...).
        params: The operation's parameters; values may be task results (what a
            ``@task`` call returns, or an operator for its return value), read at
            each poke.
        status_path: Where the status is in the response, a dotted path
            (``"QueryExecution.Status.State"``; list items by index).
        success_values: Statuses that end the wait successfully.
        failure_values: Statuses that fail the task (``FailTask``; with
            ``soft_fail``, skip it).
        message_path: Where the response explains a failure; quoted in the error.
        running_values: Statuses that mean "still working". When given, a status in
            none of the three sets logs a warning (and the sensor pokes again).
        result_path: The part of the final response that becomes the XCom value
            (default: the whole response, without botocore's ``ResponseMetadata``;
            its datetimes are aware UTC).
        aws_conn_id: The AWS connection (default ``aws_default``).
        region_name: A region overriding the connection's.
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: a keyword above is given wrongly.

    Example:
        >>> with DAG("report"):  # doctest: +SKIP
        ...     @task
        ...     def start_query() -> str:
        ...         ...  # athena.start_query_execution(...)["QueryExecutionId"]
        ...
        ...     done = AwsPollSensor(
        ...         "athena",
        ...         "get_query_execution",
        ...         {"QueryExecutionId": start_query()},
        ...         status_path="QueryExecution.Status.State",
        ...         success_values=["SUCCEEDED"],
        ...         failure_values=["FAILED", "CANCELLED"],
        ...         running_values=["QUEUED", "RUNNING"],
        ...         message_path="QueryExecution.Status.StateChangeReason",
        ...         result_path="QueryExecution.ResultConfiguration.OutputLocation",
        ...         task_id="query_done",
        ...         poke_interval=10,
        ...     )
    """

    ui_color = "#ff9900"

    def __init__(
        self,
        service: str,
        operation: str,
        params: Mapping[str, Any] | None,
        status_path: str,
        success_values: Collection[str],
        failure_values: Collection[str],
        message_path: str | None = None,
        *,
        running_values: Collection[str] | None = None,
        result_path: str | None = None,
        aws_conn_id: str = DEFAULT_CONN_ID,
        region_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        require_extra("aws", type(self).__name__)
        super().__init__(**kwargs)
        for name, value in (("service", service), ("operation", operation)):
            if not isinstance(value, str) or not _NAME.match(value):
                raise definition_error(
                    self.task_id, f"{name} must be botocore's snake_case name, got {short(value)}"
                )
        if params is not None and not isinstance(params, Mapping):
            raise definition_error(self.task_id, f"params must be a dict, got {short(params)}")
        if result_path is not None and (
            not isinstance(result_path, str) or not _PATH.match(result_path)
        ):
            raise definition_error(
                self.task_id, f"result_path must be a dotted path, got {short(result_path)}"
            )
        self.service = service
        self.operation = operation
        self.params: dict[str, Any] = dict(params or {})
        self.rule = status_rule(
            self.task_id,
            status_path=status_path,
            success_values=success_values,
            failure_values=failure_values,
            running_values=running_values,
            message_path=message_path,
        )
        self.result_path = result_path
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        depend_on_task_results(self, self.params)

    async def poke(self, context: Context) -> bool | PokeReturnValue:
        """Call the status operation once and decide from the status it reports."""
        log = task_log(context)
        with failing_task():
            params = await resolve_task_results(self.params, context)
            aws = await aws_service(self.aws_conn_id, self.service, self.region_name)
            try:
                response = await aws.call(self.operation, **params)
            except AwsTransient as error:
                log.warning("aws_poll_transient_error", error=str(error))
                return False
            except AwsNotFound as error:
                raise FailTask(str(error)) from None
            reading = self.rule.read(response)
            await self.observe(response, params, context)
        return self.decide(reading, response, params, log)

    def decide(
        self, reading: Reading, response: Mapping[str, Any], params: Mapping[str, Any], log: Any
    ) -> bool | PokeReturnValue:
        """Done, poke again, or fail, from one reading."""
        subject = self.subject(params)
        if reading.status is None:
            raise FailTask(
                f"{subject}: the response has no {self.rule.status_path!r} "
                f"(it has {sorted(response)}); check status_path"
            )
        if reading.verdict is Verdict.SUCCESS:
            log.info("aws_poll_succeeded", subject=subject, status=reading.status)
            return PokeReturnValue(True, xcom_value=self.xcom_value(response))
        if reading.verdict is Verdict.FAILURE:
            message = f"{subject} ended {reading.status}"
            if reading.message:
                message += f": {reading.message}"
            raise SkipTask(message) if self.soft_fail else FailTask(message)
        if reading.verdict is Verdict.UNKNOWN:
            log.warning(
                "aws_poll_unknown_status",
                subject=subject,
                status=reading.status,
                known=self.rule.known_values,
            )
        return False

    def subject(self, params: Mapping[str, Any]) -> str:
        """What is being polled, as error messages and logs name it."""
        return f"{self.service} {self.operation}"

    def xcom_value(self, response: Mapping[str, Any]) -> Any:
        """The sensor's result: the final response, or its part at ``result_path``."""
        value = response if self.result_path is None else dig(response, self.result_path)
        return json_ready(value)

    async def observe(
        self, response: Mapping[str, Any], params: Mapping[str, Any], context: Context
    ) -> None:
        """Called with every response before deciding (a subclass copies logs here)."""
