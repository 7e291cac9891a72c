"""Python callables run in another interpreter: ``ExternalPythonOperator`` and a virtualenv's.

As in Airflow, the function's source (not the function object) goes to the
child: it must be a plain ``def`` that imports what it uses inside its body and
reads nothing from the module around it. Its arguments and its return value
cross as JSON (never pickled, whatever ``serializer`` says); a value that is not
JSON fails the task with one line. It also receives, by naming them as
parameters, the JSON-friendly context values: ``ds``, ``ds_nodash``, ``ts``,
``ts_nodash``, ``run_id``, ``params``, ``map_index`` and, as ISO strings,
``logical_date``, ``data_interval_start`` and ``data_interval_end``.

The child is an async subprocess, so the event loop never waits on it; each line
it prints (stdout and stderr) goes to the task's log. A non-zero exit fails the
try (``retries`` apply) with the child's last error line, e.g. ``ValueError: no
rows``; an exit code in ``skip_on_exit_code`` skips the task instead.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import anyio

from asyncflow.context import Context
from asyncflow.exceptions import AsyncflowError, DagDefinitionError, FailTask, SkipTask
from asyncflow.log import get_logger
from asyncflow.operators import isolated_child
from asyncflow.operators.bash import pump_lines
from asyncflow.operators.callable import own_mapped_kwargs
from asyncflow.operators.outputs import push_outputs
from asyncflow.operators.python import PythonOperator
from asyncflow.operators.venv_cache import VenvSpec, base_python, ensure_venv
from asyncflow.settings import Settings
from asyncflow.xcom_arg import resolve_nested

log = get_logger("asyncflow.python")

# Airflow's choices, taken so its DAGs load unchanged; values cross as JSON whichever is named
SERIALIZERS = (None, "json", "pickle", "dill", "cloudpickle")
# context values an isolated function may name as parameters: they are JSON already or dates
CONTEXT_VALUES = frozenset(
    {"ds", "ds_nodash", "ts", "ts_nodash", "run_id", "params", "map_index", "logical_date",
     "data_interval_start", "data_interval_end"}
)  # fmt: skip


class IsolatedPythonError(AsyncflowError):
    """The isolated Python exited with an error (the try fails and may be retried)."""


class ExternalPythonOperator(PythonOperator):
    """Run ``python_callable`` with another Python interpreter (Airflow's operator).

    Args:
        python: Path of the interpreter (a virtualenv's ``bin/python``, say).
        python_callable: A plain ``def`` whose source can be read; it imports what
            it needs inside its body.
        op_args: Positional arguments (JSON values, or task results that are).
        op_kwargs: Keyword arguments (the same).
        skip_on_exit_code: Exit codes of the child that skip the task.
        env_vars: Environment variables for the child.
        inherit_env: Start from the engine's environment (default) or from ``env_vars`` only.
        serializer: Airflow's ``"pickle"``, ``"dill"``, ``"cloudpickle"`` or
            ``"json"``, accepted so Airflow's DAGs load; asyncflow never pickles, so
            values always cross as JSON, and one JSON cannot carry fails the task.
        use_dill: Accepted for the same reason, with the same effect.
        expect_airflow: Accepted for compatibility; nothing here needs Airflow.
        expect_pendulum: Accepted for compatibility; dates arrive as ISO strings.
        **kwargs: ``multiple_outputs`` and the keywords every task accepts.

    Example:
        >>> def count(rows):
        ...     return len(rows)
        >>> ExternalPythonOperator(  # doctest: +SKIP
        ...     task_id="count", python="/opt/py311/bin/python", python_callable=count,
        ...     op_args=[[1, 2, 3]])
    """

    def __init__(
        self,
        *,
        python: str | None = None,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        skip_on_exit_code: int | Iterable[int] | None = None,
        env_vars: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        serializer: str | None = None,
        use_dill: bool = False,
        expect_airflow: bool = True,
        expect_pendulum: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs
        )
        where = f"task {self.task_id!r}"
        if serializer not in SERIALIZERS:
            raise DagDefinitionError(
                f"{where}: unknown serializer {serializer!r}; choose one of: "
                + ", ".join(s for s in SERIALIZERS if s)
            )
        if python is not None and (not isinstance(python, str) or not python):
            raise DagDefinitionError(
                f"{where}: python must be an interpreter's path, got {python!r}"
            )
        self.python = python
        self.source = function_source(python_callable, where)
        codes = () if skip_on_exit_code is None else skip_on_exit_code
        self.skip_on_exit_code = (codes,) if isinstance(codes, int) else tuple(codes)
        self.env_vars = dict(env_vars or {})
        self.inherit_env = inherit_env
        self.expect_airflow, self.expect_pendulum = expect_airflow, expect_pendulum

    async def interpreter(self, context: Context) -> str:
        """The interpreter this try runs the function with."""
        if self.python is None:
            raise FailTask(f"task {self.task_id!r}: ExternalPythonOperator needs python=")
        return self.python

    async def execute(self, context: Context) -> Any:
        """Run the function in the other interpreter and return what it returned."""
        python = await self.interpreter(context)
        args, kwargs = await self._arguments(context)
        env = {**os.environ, **self.env_vars} if self.inherit_env else dict(self.env_vars)
        result = await run_isolated(
            python,
            self.source,
            self.python_callable.__name__,
            args,
            kwargs,
            env=env,
            task_id=self.task_id,
            skip_on_exit_code=self.skip_on_exit_code,
        )
        if self.multiple_outputs:
            await push_outputs(self.task_id, result, context)
        return result

    async def _arguments(self, context: Context) -> tuple[list[Any], dict[str, Any]]:
        bound = self.bound
        args = list(await resolve_nested(bound.args, context)) if bound.args else []
        kwargs = dict(await resolve_nested(bound.kwargs, context)) if bound.kwargs else {}
        kwargs.update(own_mapped_kwargs(context))
        given = {*bound.signature.positional[: len(args)], *kwargs}
        for name in sorted(bound.signature.names & CONTEXT_VALUES - given):
            if name in context:
                value = context[name]
                kwargs[name] = value.isoformat() if isinstance(value, date | datetime) else value
        return args, kwargs


class PythonVirtualenvOperator(ExternalPythonOperator):
    """Run ``python_callable`` in a virtualenv made for it (Airflow's operator).

    The environment is built on first use and cached under
    ``<ASYNCFLOW_HOME>/venvs``, keyed by what it is made of (see
    :mod:`asyncflow.operators.venv_cache`); later tries and tasks with the same
    requirements reuse it.

    Args:
        python_callable: A plain ``def``, as for :class:`ExternalPythonOperator`.
        requirements: Packages to install (pip requirement strings).
        python_version: Make the environment from ``python<version>`` on the PATH
            (default: the engine's Python).
        system_site_packages: Let the environment see the base Python's packages
            (default, as in Airflow).
        pip_install_options: More options for ``pip install``.
        index_urls: Package indexes: the first is ``--index-url``, the others extra ones.
        venv_cache_path: Where environments are kept (default ``<ASYNCFLOW_HOME>/venvs``).
        **kwargs: Those of :class:`ExternalPythonOperator` but ``python``.

    Example:
        >>> def shout(word):
        ...     import textwrap
        ...     return textwrap.shorten(word.upper(), 20)
        >>> PythonVirtualenvOperator(  # doctest: +SKIP
        ...     task_id="shout", python_callable=shout, op_args=["hi"], requirements=[])
    """

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        requirements: Iterable[str] | str | None = None,
        python_version: str | None = None,
        system_site_packages: bool = True,
        pip_install_options: Iterable[str] | None = None,
        index_urls: Iterable[str] | str | None = None,
        venv_cache_path: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(python_callable=python_callable, **kwargs)
        where = f"task {self.task_id!r}"
        self.requirements = _strings(requirements, "requirements", where)
        self.python_version = None if python_version is None else str(python_version)
        self.system_site_packages = system_site_packages
        self.pip_install_options = _strings(pip_install_options, "pip_install_options", where)
        self.index_urls = _strings(index_urls, "index_urls", where)
        self.venv_cache_path = None if venv_cache_path is None else Path(venv_cache_path)

    async def interpreter(self, context: Context) -> str:
        """The cached environment's Python, built first if this is its first use."""
        spec = VenvSpec(
            python=base_python(self.python_version, self.task_id),
            requirements=tuple(sorted(self.requirements)),
            system_site_packages=self.system_site_packages,
            pip_install_options=self.pip_install_options,
            index_urls=self.index_urls,
        )
        cache = self.venv_cache_path or Settings.from_env().home / "venvs"
        return str(await ensure_venv(spec, cache))


def function_source(fn: Callable[..., Any], where: str) -> str:
    """The source of ``fn``'s ``def``, dedented and without its decorators.

    Raises:
        DagDefinitionError: ``fn`` is a lambda, a coroutine function, or has no
            readable source.
    """
    name = getattr(fn, "__name__", "")
    if inspect.iscoroutinefunction(fn):
        raise DagDefinitionError(
            f"{where}: an isolated Python task runs a plain def, not an async def ({name})"
        )
    try:
        text = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError):
        tree = None
    node = tree.body[0] if tree is not None and tree.body else None
    if not isinstance(node, ast.FunctionDef) or node.name != name:
        raise DagDefinitionError(
            f"{where}: an isolated Python task ships its function's source, so it needs a "
            f"def written in a file, not {fn!r}"
        )
    node.decorator_list = []
    return ast.unparse(node)


async def run_isolated(
    python: str,
    source: str,
    name: str,
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    env: Mapping[str, str],
    task_id: str,
    skip_on_exit_code: tuple[int, ...] = (),
) -> Any:
    """Call ``name`` (defined by ``source``) with ``python`` in a child process; its result.

    Raises:
        FailTask: an argument or the result is not JSON, or ``python`` cannot run.
        SkipTask: the child exited with a code in ``skip_on_exit_code``.
        IsolatedPythonError: the child exited with another non-zero code.
    """
    request = _request(source, name, args, kwargs, task_id)
    folder = Path(await anyio.to_thread.run_sync(tempfile.mkdtemp, None, "asyncflow-python-"))
    try:
        child = anyio.Path(folder / "asyncflow_child.py")  # its folder is the child's sys.path[0]
        script = await anyio.Path(isolated_child.__file__).read_text(encoding="utf-8")
        await child.write_text(script, encoding="utf-8")
        await anyio.Path(folder / "request.json").write_text(request, encoding="utf-8")
        code, last_error = await _run_child(
            [python, str(child), "request.json", "result.json"], folder, env, task_id
        )
        if code in skip_on_exit_code:
            raise SkipTask(f"the isolated Python exited with {code}, which skips task {task_id!r}")
        if code == isolated_child.NOT_JSON_EXIT:
            raise FailTask(f"task {task_id!r}: {last_error}")
        if code != 0:
            raise IsolatedPythonError(
                f"{last_error or 'the isolated Python printed no error'} "
                f"(task {task_id!r}: {python} exited with {code})"
            )
        text = await anyio.Path(folder / "result.json").read_text(encoding="utf-8")
        return json.loads(text)["return_value"]
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, folder, True)


def _request(source: str, name: str, args: list[Any], kwargs: dict[str, Any], task_id: str) -> str:
    for label, value in [*((f"argument {i + 1}", v) for i, v in enumerate(args)),
                         *((f"argument {k!r}", v) for k, v in kwargs.items())]:  # fmt: skip
        try:
            json.dumps(value)
        except (TypeError, ValueError) as error:
            raise FailTask(
                f"task {task_id!r}: {label} of {name}() cannot cross to the isolated Python "
                f"as JSON: {error}"
            ) from None
    return json.dumps({"source": source, "name": name, "args": args, "kwargs": kwargs})


async def _run_child(
    command: list[str], cwd: Path, env: Mapping[str, str], task_id: str
) -> tuple[int, str]:
    """Run the child, logging each line it prints; its exit code and last stderr line."""
    last_error = [""]

    def out(line: str) -> None:
        log.info("python_output", stream="stdout", line=line)

    def err(line: str) -> None:
        log.info("python_output", stream="stderr", line=line)
        if line.strip():
            last_error[0] = line.strip()

    try:
        async with await anyio.open_process(command, cwd=cwd, env=dict(env)) as process:
            async with anyio.create_task_group() as tg:
                assert process.stdout is not None
                assert process.stderr is not None
                tg.start_soon(pump_lines, process.stdout, out)
                tg.start_soon(pump_lines, process.stderr, err)
            code = await process.wait()
    except OSError as error:
        raise FailTask(
            f"task {task_id!r}: cannot run the Python {command[0]!r}: {error.strerror or error}"
        ) from None
    return code, last_error[0]


def _strings(value: Iterable[str] | str | None, name: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) and item for item in items):
        raise DagDefinitionError(f"{where}: {name} must be strings, got {value!r}")
    return tuple(items)
