"""asyncflow: an Airflow-style workflow orchestrator on one asyncio event loop.

Every task and every sensor is a coroutine; waiting never blocks. The names
below are the public surface (``__all__``); everything else is internal.
"""

from asyncflow.context import get_current_context
from asyncflow.dag import DAG, dag
from asyncflow.dag import set_test_runner as _set_test_runner
from asyncflow.edge_label import Label
from asyncflow.engine import Engine, ProcessSetup
from asyncflow.engine.dag_test import run_dag_test as _run_dag_test
from asyncflow.exceptions import (
    AsyncflowError,
    DagDefinitionError,
    FailTask,
    MissingExtraError,
    SensorTimeout,
    SkipTask,
)
from asyncflow.notifier import BaseNotifier
from asyncflow.operator import Operator, chain
from asyncflow.operators import (
    BashOperator,
    BranchPythonOperator,
    EmptyOperator,
    ExternalPythonOperator,
    LatestOnlyOperator,
    PythonOperator,
    PythonVirtualenvOperator,
    ShortCircuitOperator,
)
from asyncflow.operators.python_sensor import PythonSensor
from asyncflow.params import Param
from asyncflow.results import DagRunResult, TaskInstanceResult
from asyncflow.sensor import PokeReturnValue, Sensor
from asyncflow.setup_teardown_decorators import setup, teardown
from asyncflow.states import DagRunState, TaskState
from asyncflow.task import task
from asyncflow.task_group import TaskGroup, task_group
from asyncflow.trigger_rules import TriggerRule
from asyncflow.weekday import WeekDay
from asyncflow.xcom_arg import XComArg

# DAG.test() runs an engine, which the model may not import; the package holds both,
# so it connects them, before any user code can build a DAG.
_set_test_runner(_run_dag_test)

__all__ = [
    "DAG",
    "AsyncflowError",
    "BaseNotifier",
    "BashOperator",
    "BranchPythonOperator",
    "DagDefinitionError",
    "DagRunResult",
    "DagRunState",
    "EmptyOperator",
    "Engine",
    "ExternalPythonOperator",
    "FailTask",
    "Label",
    "LatestOnlyOperator",
    "MissingExtraError",
    "Operator",
    "Param",
    "PokeReturnValue",
    "ProcessSetup",
    "PythonOperator",
    "PythonSensor",
    "PythonVirtualenvOperator",
    "Sensor",
    "SensorTimeout",
    "ShortCircuitOperator",
    "SkipTask",
    "TaskGroup",
    "TaskInstanceResult",
    "TaskState",
    "TriggerRule",
    "WeekDay",
    "XComArg",
    "chain",
    "dag",
    "get_current_context",
    "setup",
    "task",
    "task_group",
    "teardown",
]
