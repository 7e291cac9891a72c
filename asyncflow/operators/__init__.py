"""The built-in operators: empty, Python callables, bash, and latest-only."""

from asyncflow.operators.bash import BashOperator
from asyncflow.operators.empty import EmptyOperator
from asyncflow.operators.latest_only import LatestOnlyOperator
from asyncflow.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)

__all__ = [
    "BashOperator",
    "BranchPythonOperator",
    "EmptyOperator",
    "LatestOnlyOperator",
    "PythonOperator",
    "ShortCircuitOperator",
]
