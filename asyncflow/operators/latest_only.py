"""``LatestOnlyOperator``: run what follows only in the latest scheduled run.

Its direct downstream tasks are skipped in a scheduled or backfill run that is
no longer the latest one (tasks further down follow their trigger rules, as
after any branch); in a manual run nothing is skipped, as in Airflow 3.
"""

from __future__ import annotations

from datetime import UTC, datetime

from asyncflow.context import Context
from asyncflow.log import get_logger
from asyncflow.operator import Operator
from asyncflow.timetable import DataInterval, is_latest_interval

log = get_logger("asyncflow.latest_only")


class LatestOnlyOperator(Operator):
    """Skip the direct downstream tasks unless this run is the latest scheduled one.

    A run is the latest from the moment it becomes due (its data interval ends)
    until the next one does; a manual run is never skipped. The result is the
    list of downstream task ids followed (empty when they were skipped). It takes
    the keywords every task accepts (see :class:`~asyncflow.Operator`).

    Example:
        >>> from asyncflow import DAG, EmptyOperator, LatestOnlyOperator
        >>> with DAG("refresh", schedule="@hourly"):
        ...     LatestOnlyOperator(task_id="latest_only") >> EmptyOperator(task_id="publish")
        <EmptyOperator 'publish'>
    """

    ui_color = "#e9ffdb"

    async def execute(self, context: Context) -> list[str]:
        """Skip the direct downstream tasks when the run is not the latest scheduled one."""
        followed = sorted(self.downstream_task_ids)
        if context["dag_run"].run_type == "manual":
            log.info("latest_only", outcome="manual_run_proceeds")
            return followed
        interval = DataInterval(context["data_interval_start"], context["data_interval_end"])
        if is_latest_interval(self.dag.timing, interval, datetime.now(UTC)):
            log.info("latest_only", outcome="latest_run_proceeds")
            return followed
        log.info("latest_only", outcome="skipped", skipped=followed)
        context["ti"].skip_tasks(self.downstream_task_ids)
        return []
