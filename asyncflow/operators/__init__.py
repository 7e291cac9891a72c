"""The built-in operators: empty, Python callables (plain, branch, short-circuit) and bash."""

from asyncflow.operators.bash import BashOperator
from asyncflow.operators.empty import EmptyOperator
from asyncflow.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)

__all__ = [
    "BashOperator",
    "BranchPythonOperator",
    "EmptyOperator",
    "PythonOperator",
    "ShortCircuitOperator",
]
