"""The built-in operators: empty, Python callables (here or in another Python), bash..."""

from asyncflow.operators.bash import BashOperator
from asyncflow.operators.empty import EmptyOperator
from asyncflow.operators.latest_only import LatestOnlyOperator
from asyncflow.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from asyncflow.operators.python_isolated import ExternalPythonOperator, PythonVirtualenvOperator

__all__ = [
    "BashOperator",
    "BranchPythonOperator",
    "EmptyOperator",
    "ExternalPythonOperator",
    "LatestOnlyOperator",
    "PythonOperator",
    "PythonVirtualenvOperator",
    "ShortCircuitOperator",
]
