"""``multiple_outputs``: a task's dict result pushed key by key, as Airflow does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asyncflow.context import Context
from asyncflow.exceptions import FailTask


async def push_outputs(task_id: str, result: Any, context: Context) -> None:
    """Push each key of ``result`` as an XCom of its own (``return_value`` holds the whole).

    Raises:
        FailTask: the result is not a dict with string keys.
    """
    if not isinstance(result, Mapping):
        raise FailTask(
            f"task {task_id!r} has multiple_outputs=True but returned "
            f"{type(result).__name__}, not a dict"
        )
    for key, value in result.items():
        if not isinstance(key, str):
            raise FailTask(
                f"task {task_id!r} has multiple_outputs=True, so its dict keys must "
                f"be strings; got {key!r}"
            )
        await context["ti"].xcom_push(key, value)
