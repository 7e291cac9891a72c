"""``EmptyOperator``: a task that does nothing, for joins and structure."""

from __future__ import annotations

from typing import Any

from asyncflow.context import Context
from asyncflow.operator import Operator


class EmptyOperator(Operator):
    """A task that succeeds at once; useful as a join or a named point in a DAG.

    Example:
        >>> with DAG("shape"):  # doctest: +SKIP
        ...     start = EmptyOperator(task_id="start")
    """

    ui_color = "#e8f7e4"

    async def execute(self, context: Context) -> Any:
        """Do nothing; the result is ``None``."""
        return None
