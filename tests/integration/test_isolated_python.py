"""Isolated Python tasks: @task.external_python and @task.virtualenv in real child processes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncflow import (
    DAG,
    DagDefinitionError,
    DagRunResult,
    Engine,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
    TaskState,
    dag,
    task,
)
from asyncflow.operators.venv_cache import MARKER, VenvSpec, VirtualenvBuildError, ensure_venv
from asyncflow.settings import Settings
from asyncflow.task_logs import try_log_path

pytestmark = pytest.mark.anyio
PY = sys.executable


async def run(built: DAG, tmp_path: Path, limit: float = 30) -> DagRunResult:
    """Run ``built`` on a SQLite file with try logs and virtualenvs under tmp_path."""
    settings = Settings.from_env(task_logs_folder=tmp_path / "logs")
    async with Engine(f"sqlite:///{tmp_path / 'af.db'}", dags=[built], settings=settings) as e:
        with anyio.fail_after(limit):
            return await e.run(built.dag_id)


# --- external_python --------------------------------------------------------------------
async def test_external_python_passes_json_and_context_and_returns_json(tmp_path: Path) -> None:
    """Arguments, a task's result and ds reach the child; its JSON return is the XCom value."""
    with DAG("ext") as built:

        @task
        def rows() -> list[int]:
            return [1, 2, 3]

        @task.external_python(python=PY)
        def summarise(values: list[int], scale: int = 1, ds: str | None = None) -> dict[str, Any]:
            import sys

            return {"total": sum(values) * scale, "ds": ds, "exe": sys.executable}

        summarise(rows(), scale=10)
    result = await run(built, tmp_path)
    assert result.ti("summarise").state is TaskState.SUCCESS
    value = result.xcom("summarise")
    assert value["total"] == 60
    assert value["ds"] == result.logical_date.date().isoformat()


async def test_the_childs_output_goes_to_the_try_log(tmp_path: Path) -> None:
    """What the child prints on stdout and stderr is in the try's log file."""
    with DAG("chatty_child") as built:

        @task.external_python(python=PY)
        def speak() -> None:
            import sys

            print("hello from the child")
            print("a warning from the child", file=sys.stderr)

        speak()
    result = await run(built, tmp_path)
    log = try_log_path(tmp_path / "logs", "chatty_child", result.run_id, "speak", -1, 1)
    text = log.read_text()
    assert "hello from the child" in text
    assert "a warning from the child" in text


async def test_an_error_in_the_child_fails_the_try_with_its_last_line(tmp_path: Path) -> None:
    """A raised error fails each try with the child's last error line; retries apply."""
    with DAG("child_fails") as built:

        @task.external_python(python=PY, retries=1, retry_delay=0)
        def broken() -> None:
            raise ValueError("no rows today")

        broken()
    result = await run(built, tmp_path)
    ti = result.ti("broken")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 2)
    assert ti.error is not None
    assert ti.error.startswith("IsolatedPythonError: ValueError: no rows today (task 'broken': ")


async def test_a_result_that_is_not_json_fails_at_once_in_one_line(tmp_path: Path) -> None:
    """A return value JSON cannot carry fails the task without retries, saying so."""
    with DAG("not_json") as built:

        @task.external_python(python=PY, retries=2, retry_delay=0)
        def make_set() -> set[int]:
            return {1, 2}

        make_set()
    ti = (await run(built, tmp_path)).ti("make_set")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error == (
        "FailTask: task 'make_set': NotJsonError: the return value of make_set() cannot cross "
        "back as JSON: Object of type set is not JSON serializable"
    )


async def test_an_argument_that_is_not_json_fails_naming_it(tmp_path: Path) -> None:
    """An argument JSON cannot carry fails the task with one line naming the argument."""
    with DAG("bad_arg") as built:

        @task.external_python(python=PY)
        def take(value: Any) -> None:
            pass

        take(value=b"bytes")
    ti = (await run(built, tmp_path)).ti("take")
    assert ti.state is TaskState.FAILED
    assert ti.error == (
        "FailTask: task 'take': argument 'value' of take() cannot cross to the isolated "
        "Python as JSON: Object of type bytes is not JSON serializable"
    )


async def test_skip_on_exit_code_skips_and_mapping_works(tmp_path: Path) -> None:
    """An exit code in skip_on_exit_code skips; a mapped isolated task runs once per value."""
    with DAG("skips") as built:

        @task.external_python(python=PY, skip_on_exit_code=99)
        def maybe(n: int) -> int:
            import sys

            if n == 2:
                sys.exit(99)
            return n * n

        maybe.expand(n=[1, 2, 3])
    result = await run(built, tmp_path)
    states = [result.ti("maybe", i).state for i in range(3)]
    assert states == [TaskState.SUCCESS, TaskState.SKIPPED, TaskState.SUCCESS]
    assert result.xcom("maybe", map_index=2) == 9


async def test_a_python_that_does_not_exist_fails_naming_it(tmp_path: Path) -> None:
    """A missing interpreter fails the task with one line naming its path."""
    with DAG("no_python") as built:
        ExternalPythonOperator(task_id="nowhere", python="/no/such/python", python_callable=_plain)
    ti = (await run(built, tmp_path)).ti("nowhere")
    assert ti.error == (
        "FailTask: task 'nowhere': cannot run the Python '/no/such/python': "
        "No such file or directory"
    )


def _plain() -> int:
    return 1


# --- virtualenv -------------------------------------------------------------------------
async def test_a_virtualenv_without_requirements_is_built_once_and_reused(
    tmp_path: Path,
) -> None:
    """Two tasks with the same spec share one cached environment, which runs their code."""
    with DAG("venv_fast") as built:

        @task.virtualenv(system_site_packages=True, venv_cache_path=str(tmp_path / "venvs"))
        def where() -> str:
            import sys

            return sys.prefix

        first, second = where(), where()
        first >> second
    result = await run(built, tmp_path)
    (venv,) = [p for p in (tmp_path / "venvs").iterdir() if p.is_dir()]
    assert (venv / MARKER).exists()
    assert result.xcom("where") == result.xcom("where__1") == str(venv)


@pytest.mark.slow
async def test_a_virtualenv_installs_its_requirements(tmp_path: Path) -> None:
    """A requirement from the package index is installed into the environment and imported."""
    with DAG("venv_req") as built:

        @task.virtualenv(
            requirements=["iniconfig"],
            system_site_packages=False,
            venv_cache_path=str(tmp_path / "venvs"),
        )
        def parse() -> list[str]:
            import iniconfig

            return sorted(iniconfig.IniConfig("x.ini", data="[jobs]\nnightly = 1\n").sections)

        parse()
    result = await run(built, tmp_path, limit=120)
    assert result.ti("parse").state is TaskState.SUCCESS, result.ti("parse").error
    assert result.xcom("parse") == ["jobs"]


async def test_a_build_that_cannot_start_says_why(tmp_path: Path) -> None:
    """A base Python that does not exist fails the build with one line naming it."""
    spec = VenvSpec(python="/no/such/python3")
    with pytest.raises(VirtualenvBuildError, match="cannot run '/no/such/python3' to build"):
        await ensure_venv(spec, tmp_path)


async def test_a_python_version_not_installed_fails_naming_it(tmp_path: Path) -> None:
    """python_version names an interpreter the machine lacks: one line says so."""
    with DAG("old_python") as built:
        PythonVirtualenvOperator(task_id="old", python_callable=_plain, python_version="2.1")
    ti = (await run(built, tmp_path)).ti("old")
    assert ti.error == (
        "VirtualenvBuildError: task 'old': python_version '2.1' is not installed "
        "(no python2.1 on the PATH); install it or drop python_version"
    )


# --- bad definitions ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"python_callable": lambda: 1}, "needs a def written in a file, not <function"),
        ({"serializer": "yaml"}, "unknown serializer 'yaml'; choose one of: json, pickle, dill"),
        ({"requirements": ["ok", 3]}, "requirements must be strings"),
    ],
)
def test_a_bad_definition_fails_in_one_line(kwargs: dict[str, Any], message: str) -> None:
    """Each keyword given wrongly fails where the DAG is defined, naming the task."""
    with DAG("bad"), pytest.raises(DagDefinitionError, match=message):
        PythonVirtualenvOperator(task_id="t", **{"python_callable": _plain, **kwargs})


def test_an_async_function_is_refused() -> None:
    """An async def cannot run isolated: the error says a plain def is needed."""

    async def later() -> None:
        pass

    with DAG("bad_async"), pytest.raises(DagDefinitionError, match="runs a plain def, not an"):
        ExternalPythonOperator(task_id="t", python=PY, python_callable=later)


async def test_airflows_virtualenv_tutorial_runs_with_its_serializer(tmp_path: Path) -> None:
    """Airflow's tutorial_taskflow_api_virtualenv, serializer="dill" and all: JSON carries it."""

    @dag(schedule=None, tags=["example"])
    def tutorial_taskflow_api_virtualenv() -> None:
        @task.virtualenv(
            serializer="dill",
            system_site_packages=False,
            requirements=[],  # Airflow's names funcsigs, which the tests' index lacks
            venv_cache_path=str(tmp_path / "venvs"),
        )
        def extract() -> dict[str, float]:
            import json

            return json.loads('{"1001": 301.27, "1002": 433.21, "1003": 502.22}')

        @task(multiple_outputs=True)
        def transform(order_data_dict: dict[str, float]) -> dict[str, float]:
            return {"total_order_value": sum(order_data_dict.values())}

        @task()
        def load(total_order_value: float) -> str:
            return f"Total order value is: {total_order_value:.2f}"

        load(transform(extract())["total_order_value"])

    result = await run(tutorial_taskflow_api_virtualenv(), tmp_path)
    assert result.xcom("load") == "Total order value is: 1236.70"
