"""The context mapping a try sees: the run's part (computed once) plus its own."""

from __future__ import annotations

from datetime import datetime

from asyncflow.context import Context
from asyncflow.engine.run_state import RunState
from asyncflow.params import param_values
from asyncflow.runtime.task_instance import TaskInstance


def build_context(run: RunState, ti: TaskInstance) -> Context:
    """The context mapping a task instance sees: the run's part plus its own."""
    base = run.base_context
    if base is None:
        base = run.base_context = run_context(run)
    task_params = ti.task.params
    return {
        **base,
        # the DAG's params, then the task's own, then the run's conf
        "params": param_values({**run.dag.params, **task_params}, run.record.conf)
        if task_params
        else dict(base["params"]),
        "ti": ti,
        "task_instance": ti,
        "task": ti.task,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
    }


def run_context(run: RunState) -> Context:
    """The part of the context every task instance of a run shares (computed once)."""
    record = run.record
    logical_date: datetime = record.logical_date
    return {
        "dag": run.dag,
        "dag_run": record,
        "run_id": record.run_id,
        "logical_date": logical_date,
        "data_interval_start": record.data_interval_start or logical_date,
        "data_interval_end": record.data_interval_end or logical_date,
        "ds": logical_date.strftime("%Y-%m-%d"),
        "ds_nodash": logical_date.strftime("%Y%m%d"),
        "ts": logical_date.isoformat(),
        "ts_nodash": logical_date.strftime("%Y%m%dT%H%M%S"),
        "params": param_values(run.dag.params, record.conf),
        "conf": dict(record.conf),
    }
