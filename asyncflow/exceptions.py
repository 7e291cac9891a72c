"""Every exception asyncflow raises, under one root.

::

    AsyncflowError
    ├── DagDefinitionError        a DAG or task is defined wrongly (raised at definition)
    │   ├── CycleError            the dependencies form a cycle
    │   └── DuplicateTaskIdError  two tasks in one DAG share an id
    ├── DagNotFound               no DAG with that id is known to the engine
    ├── DagRunNotFound            no DAG run with that run_id is in the store
    ├── TaskInstanceNotFound      a run has no task (or map index) of that id
    ├── ParamValidationError      a run's conf does not satisfy the DAG's Params
    ├── ConnectionConfigError     a connection is not defined or its URI does not parse
    ├── XComError                 a value cannot be stored as XCom (type or size)
    ├── MappingError              dynamic mapping got something it cannot expand
    ├── StoreError                the store failed (driver errors are wrapped here)
    │   ├── MissingExtraError     an extra is not installed (a store URL, a sensor)
    │   ├── StoreInUse            another engine owns the store (a SQLite store has one)
    │   └── LeaseLost             an engine's lease on a shared store ended without it
    ├── EngineError               the engine is used wrongly (closed, wrong loop)
    ├── TaskControl               raised by a task to control its own outcome
    │   ├── SkipTask              mark the task skipped
    │   └── FailTask              fail the task with no further retries
    └── SensorTimeout             a sensor waited longer than its timeout
"""

from __future__ import annotations


class AsyncflowError(Exception):
    """The root of every exception asyncflow raises."""


class DagDefinitionError(AsyncflowError, ValueError):
    """A DAG, task or argument is defined wrongly; raised when the DAG is defined."""


class CycleError(DagDefinitionError):
    """The task dependencies of a DAG form a cycle."""


class DuplicateTaskIdError(DagDefinitionError):
    """Two tasks in one DAG have the same task_id."""


class DagNotFound(AsyncflowError, LookupError):
    """No DAG with the given dag_id is known."""


class DagRunNotFound(AsyncflowError, LookupError):
    """No DAG run with the given run_id exists in the store."""


class TaskInstanceNotFound(AsyncflowError, LookupError):
    """A DAG run has no task instance with the given task_id (and map_index)."""


class ConnectionConfigError(AsyncflowError, LookupError):
    """A connection is not defined or its URI does not parse; the message names its id."""


class XComError(AsyncflowError, ValueError):
    """A value cannot be stored as XCom: not serialisable or too large."""


class MappingError(AsyncflowError, ValueError):
    """Dynamic task mapping got a value it cannot expand, or too many items."""


class StoreError(AsyncflowError):
    """The store failed; the driver's error is chained as ``__cause__``."""


class MissingExtraError(StoreError, ImportError):
    """An optional dependency (extra) is not installed; the message says what to install.

    Raised for a store or XCom object store URL that needs one, and by a sensor
    whose extra is missing when it is constructed
    (``pip install 'asyncflow[http]'``).
    """


class StoreInUse(StoreError):
    """Another engine owns the store; the message names it (pid, host, since when)."""


class LeaseLost(StoreError):
    """An engine's lease on a shared (PostgreSQL) store is gone: released or taken over."""


class EngineError(AsyncflowError, RuntimeError):
    """The engine is used wrongly, e.g. before it is opened or inside a running loop."""


class TaskControl(AsyncflowError):
    """Base for exceptions a task raises on purpose to set its own outcome."""


class SkipTask(TaskControl):
    """Raise inside a task to mark it ``skipped``."""


class FailTask(TaskControl):
    """Raise inside a task to fail it at once, without further retries."""


class SensorTimeout(AsyncflowError):
    """A sensor did not succeed within its ``timeout``; it is not retried."""


class ParamValidationError(AsyncflowError, ValueError):
    """A run's conf gives a param a value its schema refuses, or leaves a required one out."""
