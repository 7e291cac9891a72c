"""What the AWS sensors and operators share while running: log, failures, task results.

A task result (what a ``@task`` call returns, or an operator standing for its
return value) may be given where a sensor expects a value that is only known at
run time, such as a Glue run id: the dependency is added when the DAG is
defined and the value is read from XCom at each poke.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asyncflow import FailTask, Operator
from asyncflow.log import get_logger
from sensors._common import Context
from sensors.aws.errors import AwsAccessDenied, AwsConfigError

log = get_logger("sensors.aws")


def task_log(context: Context) -> Any:
    """The sensors' logger, bound to the running task instance's identity.

    Example:
        >>> task_log({}).info("s3_key_found", key="in/a.csv")  # doctest: +SKIP
    """
    ti = context.get("ti")
    if ti is None:
        return log
    return log.bind(
        dag_id=getattr(ti, "dag_id", None),
        run_id=getattr(ti, "run_id", None),
        task_id=getattr(ti, "task_id", None),
        map_index=getattr(ti, "map_index", -1),
        try_number=getattr(ti, "try_number", None),
    )


@contextmanager
def failing_task() -> Iterator[None]:
    """Turn the AWS errors no retry can fix (configuration, access) into ``FailTask``.

    Example:
        >>> with failing_task():  # doctest: +SKIP
        ...     s3 = await aws_service(self.aws_conn_id, "s3")
    """
    try:
        yield
    except (AwsConfigError, AwsAccessDenied) as error:
        raise FailTask(str(error)) from None


# --- task results as arguments --------------------------------------------------------
def is_task_result(value: object) -> bool:
    """Whether ``value`` stands for a task's result: an XComArg or an operator.

    Example:
        >>> is_task_result("jr_0123")
        False
    """
    if isinstance(value, Operator):
        return True
    return isinstance(getattr(value, "operator", None), Operator) and isinstance(
        getattr(value, "key", None), str
    )


def task_results_in(value: object) -> Iterator[Any]:
    """Every task result inside ``value``, looking into lists, tuples and dict values."""
    if is_task_result(value):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from task_results_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from task_results_in(item)


def depend_on_task_results(task: Operator, *values: object) -> None:
    """Make ``task`` run after every task whose result is inside ``values``."""
    for value in values:
        for result in task_results_in(value):
            (result if isinstance(result, Operator) else result.operator) >> task


async def resolve_task_results(value: Any, context: Context) -> Any:
    """``value`` with every task result inside replaced by the value it produced.

    Example:
        >>> await resolve_task_results({"RunId": start_job}, context)  # doctest: +SKIP
        {'RunId': 'jr_0123'}
    """
    if isinstance(value, Operator):
        return await context["ti"].xcom_pull(task_ids=value.task_id)
    if is_task_result(value):
        return await value.resolve(context)
    if isinstance(value, list):
        return [await resolve_task_results(item, context) for item in value]
    if isinstance(value, tuple):
        return tuple([await resolve_task_results(item, context) for item in value])
    if isinstance(value, dict):
        return {key: await resolve_task_results(item, context) for key, item in value.items()}
    return value
