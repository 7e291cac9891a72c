"""``max_consecutive_failed_dag_runs``: a DAG whose last N runs all failed is paused.

As in Airflow: after a run fails, the DAG's newest N runs (by logical date) are
read; when every one of them failed, the DAG is paused (its schedule creates no
runs until ``asyncflow dags unpause``) and ``dag_paused_after_failures`` is logged.
"""

from __future__ import annotations

from collections.abc import Sequence

from asyncflow.dag import DAG
from asyncflow.log import get_logger
from asyncflow.records import DagRunRecord
from asyncflow.states import DagRunState
from asyncflow.storage.protocol import Store

log = get_logger("asyncflow.engine")


def all_failed(newest_first: Sequence[DagRunRecord], limit: int) -> bool:
    """Whether the newest ``limit`` runs exist and every one of them failed."""
    latest = newest_first[:limit]
    return len(latest) == limit and all(run.state is DagRunState.FAILED for run in latest)


async def pause_after_failures(store: Store, dag: DAG, paused: set[str]) -> None:
    """Pause ``dag`` (in the store and in ``paused``) if its last N runs all failed."""
    limit = dag.max_consecutive_failed_dag_runs
    if limit <= 0 or dag.dag_id in paused:
        return
    if all_failed(await store.list_runs(dag.dag_id), limit):
        await store.set_dag_paused(dag.dag_id, True)
        paused.add(dag.dag_id)
        log.warning(
            "dag_paused_after_failures",
            dag_id=dag.dag_id,
            failed_runs=limit,
            hint=f"fix the DAG, then: asyncflow dags unpause {dag.dag_id}",
        )
