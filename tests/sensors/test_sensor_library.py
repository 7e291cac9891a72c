"""The sensor library as a whole: its exports, its imports of asyncflow, and timeouts."""

from __future__ import annotations

import ast
import inspect
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sensor_helpers import LIMIT, MODES

import asyncflow
import sensors
from asyncflow import DAG, DagRunState, EmptyOperator, Engine, Operator, Sensor, TaskState

pytestmark = pytest.mark.anyio

SHIPPED = {
    "DateTimeSensor",
    "TimeDeltaSensor",
    "FileSensor",
    "ExternalTaskSensor",
    "HttpSensor",
    "HttpOperator",
    "S3KeySensor",
    "AwsPollSensor",
    "GlueJobSensor",
    "GlueJobOperator",
    "BashSensor",
    "TimeSensor",
    "DayOfWeekSensor",
    "SmtpNotifier",
    "HttpNotifier",
}
NOTIFIERS = {"SmtpNotifier", "HttpNotifier"}  # callbacks, not tasks
# Beyond `from asyncflow import <a name in asyncflow.__all__>`, the only core imports.
ALLOWED_INTERNALS = {
    ("asyncflow.threads", "call"),  # the engine's worker threads
    # the connections API: named connections and the engine's shared clients
    ("asyncflow.connections", "Connection"),
    ("asyncflow.connections", "get_connection"),
    ("asyncflow.connections", "shared"),
    # the XCom object storage API, which sensors.aws.object_store implements for S3
    ("asyncflow.xcom_objects", "XComError"),
    # asyncflow's loggers: to the host's structlog or stdlib logging, and to the try log
    ("asyncflow.log", "get_logger"),
    # BashSensor pokes with BashOperator's async subprocess, in BashOperator's environment
    ("asyncflow.operators.bash", "bash_environment"),
    ("asyncflow.operators.bash", "bash_exit_code"),
}


def test_all_lists_exactly_the_shipped_sensors() -> None:
    """sensors.__all__ names what is built so far: documented sensors, operators, notifiers."""
    assert set(sensors.__all__) == SHIPPED
    for name in sensors.__all__:
        value = getattr(sensors, name)
        if name in NOTIFIERS:
            assert issubclass(value, asyncflow.BaseNotifier), name
        else:
            assert issubclass(value, Sensor) or name.endswith("Operator"), name
            assert issubclass(value, Operator), name
        assert inspect.getdoc(value), name
        assert "Example:" in (value.__doc__ or ""), name


def test_no_public_name_is_left_out_of_all() -> None:
    """Every public non-module name of the package is listed in __all__."""
    public = {
        n for n, v in vars(sensors).items() if not n.startswith("_") and not inspect.ismodule(v)
    }
    assert public == set(sensors.__all__)


def core_imports() -> list[tuple[str, str, str]]:
    """(file, module, name) for every name the sensors package imports from asyncflow."""
    found = []
    root = Path(sensors.__file__).parent
    for path in sorted(root.rglob("*.py")):
        file = str(path.relative_to(root))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(file, a.name, "") for a in node.names if "asyncflow" in a.name]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("asyncflow"):
                found += [(file, node.module or "", a.name) for a in node.names]
    return found


def test_the_library_uses_only_asyncflows_public_names() -> None:
    """Sensors imports asyncflow's exported names plus the listed internals, nothing else."""
    imports = core_imports()
    assert imports
    for file, module, name in imports:
        public = module == "asyncflow" and name in asyncflow.__all__
        assert public or (module, name) in ALLOWED_INTERNALS, (file, module, name)


def never_done_sensors(tmp_path: Path, **kwargs: Any) -> None:
    """One sensor of each kind whose condition never holds, in the DAG being defined."""
    sensors.DateTimeSensor("2999-01-01", task_id="datetime", **kwargs)
    sensors.TimeDeltaSensor(timedelta(days=1), task_id="timedelta", **kwargs)
    sensors.FileSensor(tmp_path / "never", task_id="file", **kwargs)
    sensors.ExternalTaskSensor("nowhere", "nothing", task_id="external", **kwargs)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("soft_fail", "state"), [(False, TaskState.FAILED), (True, TaskState.SKIPPED)]
)
async def test_every_sensor_times_out_and_soft_fail_skips_it(
    tmp_path: Path, mode: str, soft_fail: bool, state: TaskState
) -> None:
    """Each sensor fails with SensorTimeout after its timeout, or is skipped with soft_fail."""
    with DAG(f"timeouts_{mode}_{soft_fail}") as built:
        never_done_sensors(
            tmp_path, poke_interval=0.01, timeout=0.05, mode=mode, soft_fail=soft_fail, retries=1
        )
        EmptyOperator(task_id="independent")
    async with Engine("memory://") as engine:
        with anyio.fail_after(LIMIT):
            result = await engine.run(built)
    expected_run = DagRunState.SUCCESS if soft_fail else DagRunState.FAILED
    assert result.state is expected_run
    for ti in result.task_instances:
        if ti.task_id == "independent":
            continue
        assert (ti.task_id, ti.state, ti.try_number) == (ti.task_id, state, 1)
        if not soft_fail:
            assert ti.error is not None
            assert ti.error.startswith(f"SensorTimeout: sensor {ti.task_id!r} timed out"), ti
