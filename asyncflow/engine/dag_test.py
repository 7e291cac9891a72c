"""``dag.test()``: one run to the end in a fresh event loop with a temporary store."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio

from asyncflow.engine.engine import Engine
from asyncflow.exceptions import EngineError

if TYPE_CHECKING:
    from asyncflow.dag import DAG
    from asyncflow.results import DagRunResult


def run_dag_test(
    dag: DAG, *, conf: Mapping[str, Any] | None, logical_date: datetime | None
) -> DagRunResult:
    """Run ``dag`` once on an in-memory store and return the finished run's result.

    Raises:
        EngineError: when called inside a running event loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise EngineError(
            f"dag.test() of {dag.dag_id!r} was called inside a running event loop; "
            "use `await engine.run(dag, ...)` in an `async with Engine(...)` block instead"
        )

    async def main() -> DagRunResult:
        async with Engine("memory://", dags=[dag]) as engine:
            return await engine.run(dag.dag_id, conf=conf, logical_date=logical_date)

    return anyio.run(main)
