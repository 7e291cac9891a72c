"""BashSensor: a poke runs the command; exit 0 is done, non-zero pokes again (or fails)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sensor_helpers import MODES

from asyncflow import DAG, DagDefinitionError, DagRunState, TaskState
from sensors import BashSensor

# each poke counts itself in the file `pokes`, and the command exits 0 from the third poke on
THIRD_POKE = 'n=$(( $(cat pokes 2>/dev/null || echo 0) + 1 )); echo $n > pokes; [ "$n" -ge 3 ]'


def test_exit_code_zero_is_done_at_the_first_poke() -> None:
    """A command that exits 0 makes the sensor succeed at once."""
    with DAG("bash_done") as built:
        BashSensor(task_id="ready", bash_command="true")
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert result.ti("ready").try_number == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_non_zero_exit_pokes_again_until_zero(tmp_path: Path, mode: str) -> None:
    """Non-zero exits mean not done: the sensor pokes until the command exits 0."""
    with DAG(f"bash_wait_{mode}") as built:
        BashSensor(
            task_id="ready", bash_command=THIRD_POKE, cwd=str(tmp_path),
            poke_interval=0.01, mode=mode,
        )  # fmt: skip
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert (tmp_path / "pokes").read_text().strip() == "3"


def test_the_retry_exit_code_pokes_again(tmp_path: Path) -> None:
    """With retry_exit_code, that code means not done, like any non-zero code without it."""
    command = THIRD_POKE.replace('[ "$n" -ge 3 ]', '[ "$n" -ge 3 ] || exit 7')
    with DAG("bash_retry_code") as built:
        BashSensor(
            task_id="ready", bash_command=command, cwd=str(tmp_path),
            retry_exit_code=7, poke_interval=0.01,
        )  # fmt: skip
    assert built.test().state is DagRunState.SUCCESS
    assert (tmp_path / "pokes").read_text().strip() == "3"


def test_another_exit_code_than_the_retry_one_fails_without_retries() -> None:
    """With retry_exit_code=7, exit code 3 fails the task at once, naming both codes."""
    with DAG("bash_fails") as built:
        BashSensor(task_id="ready", bash_command="exit 3", retry_exit_code=7, retries=2)
    result = built.test()
    ti = result.ti("ready")
    assert ti.state is TaskState.FAILED
    assert ti.try_number == 1
    assert ti.error is not None
    assert "exited with code 3, not 0 (done) or the retry_exit_code 7" in ti.error


def test_env_replaces_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With env, the command sees those variables and not the engine's."""
    monkeypatch.setenv("ASYNCFLOW_TEST_ENGINE_ONLY", "1")
    command = '[ "$COLOUR" = blue ] && [ -z "${ASYNCFLOW_TEST_ENGINE_ONLY:-}" ]'
    with DAG("bash_env") as built:
        BashSensor(task_id="ready", bash_command=command, env={"COLOUR": "blue"}, timeout=5)
    assert built.test().state is DagRunState.SUCCESS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bash_command": ""}, "bash_command must be a non-empty string, got ''"),
        ({"bash_command": 3}, "bash_command must be a non-empty string, got 3"),
        (
            {"bash_command": "true", "retry_exit_code": "7"},
            "retry_exit_code must be a whole number or None, got '7'",
        ),
        (
            {"bash_command": "true", "retry_exit_code": True},
            "retry_exit_code must be a whole number or None, got True",
        ),
    ],
    ids=["empty-command", "command-not-str", "code-str", "code-bool"],
)
def test_bad_arguments_fail_with_one_line(kwargs: dict[str, object], message: str) -> None:
    """A wrong bash_command or retry_exit_code fails where the DAG is defined, naming the task."""
    with DAG("bash_bad"), pytest.raises(DagDefinitionError) as error:
        BashSensor(task_id="ready", **kwargs)  # type: ignore[arg-type]
    assert str(error.value) == f"task 'ready': {message}"
