"""``BashSensor``: poke by running a bash command; exit code 0 means done.

Each poke runs the command as an async subprocess, as
:class:`~asyncflow.BashOperator` does, so a waiting sensor never blocks the loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asyncflow import FailTask, Sensor
from asyncflow.operators.bash import bash_environment, bash_exit_code
from sensors._common import Context, definition_error, short


class BashSensor(Sensor):
    """Wait until ``bash_command`` exits with code 0 (Airflow's ``BashSensor``).

    A non-zero exit code means "not yet", so the sensor pokes again; with
    ``retry_exit_code`` only that code does, and any other non-zero code fails
    the task without retries.

    Args:
        bash_command: The command line (run by ``bash -c``).
        env: Environment for the command instead of the engine's.
        cwd: Working directory (default: the system's temporary directory).
        retry_exit_code: The one non-zero exit code that means "poke again".
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: ``bash_command`` is not a non-empty string, or
            ``retry_exit_code`` not a whole number.

    Example:
        >>> from asyncflow import DAG
        >>> with DAG("wait_for_file"):
        ...     BashSensor(task_id="ready", bash_command="test -e /tmp/ready", poke_interval=30)
        <BashSensor 'ready'>
    """

    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        retry_exit_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(bash_command, str) or not bash_command.strip():
            raise definition_error(
                self.task_id, f"bash_command must be a non-empty string, got {short(bash_command)}"
            )
        if retry_exit_code is not None and (
            isinstance(retry_exit_code, bool) or not isinstance(retry_exit_code, int)
        ):
            raise definition_error(
                self.task_id,
                f"retry_exit_code must be a whole number or None, got {short(retry_exit_code)}",
            )
        self.bash_command = bash_command
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.retry_exit_code = retry_exit_code

    async def poke(self, context: Context) -> bool:
        """Run the command once; done when it exits with code 0."""
        code, _ = await bash_exit_code(
            self.bash_command, env=bash_environment(self.env, context), cwd=self.cwd
        )
        if code == 0:
            return True
        if self.retry_exit_code is not None and code != self.retry_exit_code:
            raise FailTask(
                f"bash command of sensor {self.task_id!r} exited with code {code}, "
                f"not 0 (done) or the retry_exit_code {self.retry_exit_code}"
            )
        return False
