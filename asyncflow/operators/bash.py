"""``BashOperator``: run a shell command as an async subprocess.

The command never blocks the event loop. A non-zero exit code fails the task
(``skip_on_exit_code``, 99 by default as in Airflow, skips it instead); the last
line the command writes to stdout is the task's XCom result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc
from anyio.streams.text import TextReceiveStream

from asyncflow.context import Context
from asyncflow.exceptions import AsyncflowError, DagDefinitionError, SkipTask
from asyncflow.log import get_logger
from asyncflow.operator import Operator
from asyncflow.operators.outputs import push_outputs

log = get_logger("asyncflow.bash")


class BashCommandFailed(AsyncflowError):
    """A bash command exited with a non-zero code (the try fails and may be retried)."""


class BashOperator(Operator):
    """Run ``bash_command`` in ``bash``; the last line of stdout is the result.

    Args:
        bash_command: The command line (run by ``bash -c``).
        env: Environment for the command; by default the engine's environment.
        append_env: With ``env``, add it to the engine's environment instead of
            replacing it.
        cwd: Working directory (default: a fresh temporary directory).
        skip_on_exit_code: Exit codes that skip the task instead of failing it.
        output_processor: Turns stdout's last line into the result (e.g. ``json.loads``).
        multiple_outputs: Push each key of a dict result as its own XCom too.
        **kwargs: The keywords every task accepts (see :class:`~asyncflow.Operator`).

    Example:
        >>> BashOperator(task_id="date", bash_command="date -u +%F")  # doctest: +SKIP
    """

    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: Mapping[str, str] | None = None,
        append_env: bool = False,
        cwd: str | None = None,
        skip_on_exit_code: int | tuple[int, ...] | None = 99,
        output_processor: Callable[[str], Any] | None = None,
        multiple_outputs: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_processor is not None and not callable(output_processor):
            raise DagDefinitionError(
                f"task {self.task_id!r}: output_processor must be callable, "
                f"got {output_processor!r}"
            )
        self.output_processor = output_processor
        self.multiple_outputs = multiple_outputs
        if not isinstance(bash_command, str) or not bash_command.strip():
            raise DagDefinitionError(
                f"task {self.task_id!r}: bash_command must be a non-empty string, "
                f"got {bash_command!r}"
            )
        self.bash_command = bash_command
        self.env = dict(env) if env is not None else None
        self.append_env = append_env
        self.cwd = cwd
        if skip_on_exit_code is None:
            self.skip_on_exit_code: tuple[int, ...] = ()
        elif isinstance(skip_on_exit_code, int):
            self.skip_on_exit_code = (skip_on_exit_code,)
        else:
            self.skip_on_exit_code = tuple(skip_on_exit_code)

    async def execute(self, context: Context) -> Any:
        """Run the command and return stdout's last line (through ``output_processor``)."""
        last_line = await run_bash(
            self.bash_command,
            env=bash_environment(self.env, context, append_env=self.append_env),
            cwd=self.cwd,
            skip_on_exit_code=self.skip_on_exit_code,
            task_id=self.task_id,
        )
        processor = self.output_processor
        result = last_line if processor is None or last_line is None else processor(last_line)
        if self.multiple_outputs:
            await push_outputs(self.task_id, result, context)
        return result


def bash_environment(
    env: Mapping[str, str] | None, context: Context, *, append_env: bool = False
) -> dict[str, str]:
    """The environment a bash command runs with: ``env`` (or the engine's) plus the run's ids.

    Without ``env`` the command inherits the engine's environment; with it, only
    ``env`` unless ``append_env``. ``ASYNCFLOW_CTX_*`` name the DAG, run, task,
    try and logical date.
    """
    base = dict(os.environ) if env is None or append_env else {}
    base.update(env or {})
    ti = context["ti"]
    base.update(
        {
            "ASYNCFLOW_CTX_DAG_ID": ti.dag_id,
            "ASYNCFLOW_CTX_RUN_ID": ti.run_id,
            "ASYNCFLOW_CTX_TASK_ID": ti.task_id,
            "ASYNCFLOW_CTX_TRY_NUMBER": str(ti.try_number),
            "ASYNCFLOW_CTX_LOGICAL_DATE": context["ts"],
        }
    )
    return base


async def run_bash(
    command: str,
    *,
    env: Mapping[str, str],
    cwd: str | None,
    skip_on_exit_code: tuple[int, ...],
    task_id: str,
) -> str | None:
    """Run ``command`` with bash, log its output, and return stdout's last line.

    Raises:
        SkipTask: when the exit code is in ``skip_on_exit_code``.
        BashCommandFailed: when the exit code is any other non-zero value (retried).
    """
    code, last_line = await bash_exit_code(command, env=env, cwd=cwd)
    if code in skip_on_exit_code:
        raise SkipTask(f"bash command exited with {code}, which skips task {task_id!r}")
    if code != 0:
        raise BashCommandFailed(f"bash command of task {task_id!r} exited with code {code}")
    return last_line


async def bash_exit_code(
    command: str, *, env: Mapping[str, str], cwd: str | None
) -> tuple[int, str | None]:
    """Run ``command`` with bash, log its output; return its exit code and stdout's last line.

    Example:
        >>> anyio.run(lambda: bash_exit_code("echo hi; exit 3", env={}, cwd=None))
        (3, 'hi')
    """
    last_line: list[str | None] = [None]

    def keep_last(line: str) -> None:
        log.info("bash_output", stream="stdout", line=line)
        last_line[0] = line

    def log_err(line: str) -> None:
        log.info("bash_output", stream="stderr", line=line)

    async with await anyio.open_process(
        ["bash", "-c", command], env=dict(env), cwd=cwd or tempfile.gettempdir()
    ) as process:
        async with anyio.create_task_group() as tg:
            assert process.stdout is not None
            assert process.stderr is not None
            tg.start_soon(pump_lines, process.stdout, keep_last)
            tg.start_soon(pump_lines, process.stderr, log_err)
        code = await process.wait()
    return code, last_line[0]


async def pump_lines(stream: anyio.abc.ByteReceiveStream, sink: Callable[[str], None]) -> None:
    """Feed each line of ``stream`` (decoded, without its newline) to ``sink``."""
    pending = ""
    async for chunk in TextReceiveStream(stream, errors="replace"):
        pending += chunk
        *lines, pending = pending.split("\n")
        for line in lines:
            sink(line)
    if pending:
        sink(pending)
