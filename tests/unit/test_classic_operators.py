"""Classic operators written for Airflow: a plain ``def execute`` and ``.output`` everywhere."""

from __future__ import annotations

import json
import threading
from typing import Any

from asyncflow import (
    DAG,
    BashOperator,
    DagRunState,
    Operator,
    XComArg,
    get_current_context,
    task,
)


class Shout(Operator):
    """An operator as Airflow users write them: a sync execute returning its result."""

    def __init__(self, *, word: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.word = word

    def execute(self, context: Any) -> dict[str, Any]:  # type: ignore[override]
        return {
            "word": self.word.upper(),
            "in_a_worker_thread": threading.current_thread() is not threading.main_thread(),
            "run_id_seen": get_current_context()["run_id"] == context["run_id"],
        }


def test_a_sync_execute_runs_in_a_worker_thread_and_its_result_is_the_xcom() -> None:
    """A plain def execute runs off the event loop, sees its context, and returns the XCom."""
    with DAG("classic") as built:
        Shout(task_id="shout", word="hi")
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("shout") == {"word": "HI", "in_a_worker_thread": True, "run_id_seen": True}


def test_output_works_on_a_plain_and_a_mapped_classic_operator() -> None:
    """``.output`` of an operator and of a mapped one pass their results on, as in Airflow."""
    with DAG("outputs") as built:
        shout = Shout(task_id="shout", word="hi")
        echoes = BashOperator.partial(task_id="echo").expand(bash_command=["echo a", "echo b"])

        @task
        def gather(first: dict[str, Any], words: list[str]) -> str:
            return first["word"] + "".join(words)

        assert isinstance(echoes.output, XComArg)
        assert echoes.task_id == "echo"
        gather(shout.output, echoes.output)
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("gather") == "HIab"


def test_bash_output_processor_and_multiple_outputs_shape_the_result() -> None:
    """The last line goes through output_processor; a dict result is pushed key by key too."""
    with DAG("bash_outputs") as built:
        BashOperator(
            task_id="stats",
            bash_command='echo noise; echo \'{"rows": 3, "bad": 0}\'',
            output_processor=json.loads,
            multiple_outputs=True,
        )
        BashOperator(task_id="plain", bash_command="echo 41", output_processor=int)
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("stats") == {"rows": 3, "bad": 0}
    assert (result.xcom("stats", key="rows"), result.xcom("stats", key="bad")) == (3, 0)
    assert result.xcom("plain") == 41


def test_bash_multiple_outputs_without_a_dict_fails_saying_so() -> None:
    """multiple_outputs with a result that is not a dict fails the task with one line."""
    with DAG("bash_not_dict") as built:
        BashOperator(task_id="t", bash_command="echo 1", multiple_outputs=True)
    result = built.test()
    assert result.ti("t").error == (
        "FailTask: task 't' has multiple_outputs=True but returned str, not a dict"
    )
