"""The public surface: what the documented API promises is exported, and nothing is missing."""

from __future__ import annotations

import inspect

import pytest

import asyncflow

API_NAMES = {
    "DAG", "dag", "task", "chain",
    "Operator", "Sensor", "PokeReturnValue",
    "EmptyOperator", "PythonOperator", "BashOperator",
    "TriggerRule", "TaskState", "DagRunState",
    "SkipTask", "FailTask", "SensorTimeout",
    "Engine", "get_current_context",
}  # fmt: skip


def test_every_api_name_is_exported() -> None:
    """Every name of the documented import block is in asyncflow.__all__."""
    assert set(asyncflow.__all__) >= API_NAMES


@pytest.mark.parametrize("name", sorted(asyncflow.__all__))
def test_every_exported_name_exists_and_is_documented(name: str) -> None:
    """Each name in __all__ resolves and has a docstring of its own."""
    value = getattr(asyncflow, name)
    assert inspect.getdoc(value), name


def test_no_public_name_is_left_out_of_all() -> None:
    """Public (non-underscore, non-module) names of the package are listed in __all__."""
    public = {
        n for n, v in vars(asyncflow).items() if not n.startswith("_") and not inspect.ismodule(v)
    }
    assert public == set(asyncflow.__all__)


def test_task_decorator_variants_exist() -> None:
    """@task has the documented variants."""
    for variant in ("sensor", "branch", "short_circuit", "bash"):
        assert callable(getattr(asyncflow.task, variant))


def test_states_and_rules_are_plain_strings() -> None:
    """The enums compare equal to Airflow's strings."""
    assert asyncflow.TaskState.UP_FOR_RESCHEDULE == "up_for_reschedule"
    assert asyncflow.DagRunState.SUCCESS == "success"
    assert asyncflow.TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS == "none_failed_min_one_success"
    assert len(asyncflow.TriggerRule) == 13  # Airflow's twelve and all_done_setup_success
