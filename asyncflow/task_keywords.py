"""Airflow's task and DAG keywords that asyncflow takes but has no use for, and misspelt ones.

A DAG moved from Airflow keeps its keywords. Those whose work asyncflow does
differently, or not at all, are accepted and change nothing (:data:`AIRFLOW_ONLY`
for tasks, :data:`DAG_AIRFLOW_ONLY` for DAGs, each with the reason); a few DAG
keywords that would change how a run goes are refused until asyncflow does what
they ask (:data:`DAG_NOT_YET`), rather than ignored. Any other unknown keyword
is an error naming the closest valid one.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from asyncflow.exceptions import DagDefinitionError

AIRFLOW_ONLY: Mapping[str, str] = {
    "email": "asyncflow sends no mail of its own; use an on_failure_callback",
    "email_on_retry": "asyncflow sends no mail of its own; use an on_retry_callback",
    "email_on_failure": "asyncflow sends no mail of its own; use an on_failure_callback",
    "start_date": "a task runs when its DAG run does; the DAG's start_date schedules",
    "end_date": "a task runs when its DAG run does; the DAG's end_date schedules",
    "sla": "SLAs were removed in Airflow 3",
    "deferrable": "every sensor here already waits without holding a worker",
    "executor": "there is one executor: the engine's event loop",
    "executor_config": "there is one executor: the engine's event loop",
    "resources": "tasks share the engine's process; there is nothing to reserve",
    "run_as_user": "tasks run as the engine's user",
    "inlets": "asyncflow keeps no lineage",
    "outlets": "asyncflow keeps no lineage (and no assets yet)",
    "logger_name": "a task logs through asyncflow's structured log and its try log",
    "allow_nested_operators": "asyncflow does not warn about operators made in execute()",
    "map_index_template": "mapped instances are shown by their map index",
    "ignore_first_depends_on_past": "the first run of a task never waits on a past one",
    "wait_for_past_depends_before_skipping": "skips are decided without waiting on past runs",
}
"""Keyword -> why asyncflow accepts it and does nothing with it."""

DAG_AIRFLOW_ONLY: Mapping[str, str] = {
    "access_control": "asyncflow has no per-DAG roles",
    "owner_links": "owners are shown as names",
    "auto_register": "every DAG a DAG file defines is loaded",
    "disable_bundle_versioning": "asyncflow has no DAG bundles",
    "sla_miss_callback": "SLAs were removed in Airflow 3",
}
"""DAG keyword -> why asyncflow accepts it and does nothing with it."""

DAG_NOT_YET: Mapping[str, str] = {
    "schedule_interval": "Airflow 3 removed it: use schedule=",
    "template_searchpath": "templates are not rendered yet",
    "template_undefined": "templates are not rendered yet",
    "user_defined_macros": "templates are not rendered yet",
    "user_defined_filters": "templates are not rendered yet",
    "jinja_environment_kwargs": "templates are not rendered yet",
    "render_template_as_native_obj": "templates are not rendered yet",
    "is_paused_upon_creation": "pause it with asyncflow dags pause",
    "deadline": "use dagrun_timeout",
}
"""DAG keyword -> what to do instead; refused because ignoring it would change how a run goes."""


def check_unknown_keywords(cls: type, task_id: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The Airflow-only task keywords among ``extra``; refuse the rest with one line each.

    Raises:
        DagDefinitionError: a keyword nobody knows (naming the closest valid one).
    """
    return _check(cls, f"task {task_id!r}", extra, AIRFLOW_ONLY, {})


def check_unknown_dag_keywords(cls: type, dag_id: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The Airflow-only DAG keywords among ``extra``; refuse the rest (as for tasks)."""
    return _check(cls, f"DAG {dag_id!r}", extra, DAG_AIRFLOW_ONLY, DAG_NOT_YET)


def _check(
    cls: type,
    where: str,
    extra: Mapping[str, Any],
    airflow_only: Mapping[str, str],
    not_yet: Mapping[str, str],
) -> dict[str, Any]:
    for name in extra:
        if name in not_yet:
            raise DagDefinitionError(
                f"{where}: {name} is not supported yet ({not_yet[name]}); remove it"
            )
        if name not in airflow_only:
            message = f"{where}: {cls.__name__} got an unknown keyword {name!r}"
            known = sorted(_keywords_of(cls) | set(airflow_only) | set(not_yet))
            closest = difflib.get_close_matches(name, known, n=1)
            raise DagDefinitionError(
                f"{message}; did you mean {closest[0]!r}?" if closest else message
            )
    return dict(extra)


@cache
def _keywords_of(cls: type) -> frozenset[str]:
    """Every keyword the constructors of ``cls`` and its bases name."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            names.update(_parameters(init))
    return frozenset(names)


def _parameters(init: Any) -> Iterable[str]:
    try:
        parameters = inspect.signature(init).parameters.values()
    except (TypeError, ValueError):  # a builtin's __init__
        return ()
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds and p.name != "self"]
