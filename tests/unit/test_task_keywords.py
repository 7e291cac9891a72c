"""Airflow's task keywords: those with work here do it, the others are taken or refused clearly."""

from __future__ import annotations

from typing import Any

import pytest

from asyncflow import (
    DAG,
    BashOperator,
    DagDefinitionError,
    DagRunState,
    EmptyOperator,
    SkipTask,
    TaskState,
    task,
)
from asyncflow.task_keywords import AIRFLOW_ONLY, DAG_NOT_YET

AIRFLOW_VALUES: dict[str, Any] = {name: f"value of {name}" for name in AIRFLOW_ONLY}


def one() -> int:
    return 1


def ready() -> bool:
    return True


@pytest.mark.parametrize(
    "make",
    [
        lambda kw: EmptyOperator(task_id="t", **kw),
        lambda kw: BashOperator(task_id="t", bash_command="echo hi", **kw),
        lambda kw: task(task_id="t", **kw)(one)().operator,
        lambda kw: task.sensor(task_id="t", **kw)(ready)().operator,
    ],
    ids=["EmptyOperator", "BashOperator", "@task", "@task.sensor"],
)
def test_every_airflow_only_keyword_is_taken_and_kept_as_given(make: Any) -> None:
    """A task given all of Airflow's keywords that change nothing here is built, keeping them."""
    with DAG("airflow_only"):
        made = make(AIRFLOW_VALUES)
    assert made.airflow_only == AIRFLOW_VALUES


@pytest.mark.parametrize("name", sorted(DAG_NOT_YET))
def test_a_dag_keyword_not_honoured_yet_is_refused_saying_what_to_do(name: str) -> None:
    """Templating keywords and the like fail with one line saying what to do instead."""
    with pytest.raises(DagDefinitionError) as refused:
        DAG("not_yet", **{name: 2})
    message = str(refused.value)
    assert message.startswith(f"DAG 'not_yet': {name} is not supported yet (")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("make", "closest"),
    [
        (lambda: EmptyOperator(task_id="t", retires=1), "retries"),
        (lambda: BashOperator(task_id="t", bash_command="echo", append_evn=True), "append_env"),
        (lambda: task.sensor(poke_intervl=5)(ready)(), "poke_interval"),
        (lambda: EmptyOperator(task_id="t", email_on_failur=True), "email_on_failure"),
    ],
)
def test_a_misspelt_keyword_fails_naming_the_closest_valid_one(make: Any, closest: str) -> None:
    """One line: the task, the unknown keyword and the keyword meant; nothing is added."""
    with DAG("misspelt") as built, pytest.raises(DagDefinitionError) as refused:
        make()
    assert str(refused.value).endswith(f"did you mean {closest!r}?")
    assert "unknown keyword" in str(refused.value)
    assert built.task_ids == []


def test_do_xcom_push_false_stores_no_return_value() -> None:
    """With do_xcom_push=False the return value is not stored; by default it is."""
    with DAG("no_push", default_args={"do_xcom_push": False}) as built:

        @task
        def quiet() -> int:
            return 1

        @task(do_xcom_push=True)
        def loud() -> int:
            return 2

        quiet()
        loud()
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("quiet") is None
    assert result.xcom("loud") == 2


def test_execute_and_skipped_callbacks_are_called_with_the_context() -> None:
    """on_execute_callback runs as the try starts, on_skipped_callback when it skips."""
    calls: list[tuple[str, str]] = []

    def started(context: dict[str, Any]) -> None:
        calls.append(("execute", context["task"].task_id))

    def skipped(context: dict[str, Any]) -> None:
        calls.append(("skipped", context["task"].task_id))

    with DAG("callbacks") as built:

        @task(on_execute_callback=started, on_skipped_callback=skipped)
        def maybe() -> None:
            raise SkipTask("not today")

        maybe()
    result = built.test()
    assert result.ti("maybe").state is TaskState.SKIPPED
    assert calls == [("execute", "maybe"), ("skipped", "maybe")]


def test_task_params_lie_over_the_dags_and_under_the_runs_conf() -> None:
    """A task sees the DAG's params, then its own, then the run's conf."""
    with DAG("params", params={"a": "dag", "b": "dag", "c": "dag"}) as built:

        @task(params={"b": "task", "c": "task"})
        def show(params: dict[str, Any]) -> dict[str, Any]:
            return params

        @task
        def plain(params: dict[str, Any]) -> dict[str, Any]:
            return params

        show()
        plain()
    result = built.test(conf={"c": "conf"})
    assert result.xcom("show") == {"a": "dag", "b": "task", "c": "conf"}
    assert result.xcom("plain") == {"a": "dag", "b": "dag", "c": "conf"}


def test_docs_display_name_and_queue_are_kept_and_default_args_fill_the_queue() -> None:
    """The doc keywords and the display name are kept; queue comes from default_args too."""
    with DAG("shown", default_args={"queue": "heavy"}):
        made = EmptyOperator(
            task_id="t",
            doc="plain",
            doc_json="{}",
            doc_yaml="a: 1",
            doc_rst="*rst*",
            task_display_name="The T",
        )
        other = EmptyOperator(task_id="u", queue="light")
    assert (made.doc, made.doc_json, made.doc_yaml, made.doc_rst) == (
        "plain",
        "{}",
        "a: 1",
        "*rst*",
    )
    assert (made.task_display_name, made.queue) == ("The T", "heavy")
    assert (other.task_display_name, other.queue) == ("u", "light")


def test_bad_values_of_the_new_keywords_are_refused() -> None:
    """A non-mapping params, a non-bool do_xcom_push and a non-callable callback fail clearly."""
    with DAG("bad_values"):
        with pytest.raises(DagDefinitionError, match="params must be a mapping"):
            EmptyOperator(task_id="a", params=["x"])  # type: ignore[arg-type]
        with pytest.raises(DagDefinitionError, match="do_xcom_push must be True or False"):
            EmptyOperator(task_id="b", do_xcom_push="no")  # type: ignore[arg-type]
        with pytest.raises(DagDefinitionError, match="on_execute_callback must be callable"):
            EmptyOperator(task_id="c", on_execute_callback="x")  # type: ignore[arg-type]


def test_a_dag_takes_airflows_dag_keywords_and_refuses_the_rest_clearly() -> None:
    """doc_md and the display name are kept, Airflow-only keywords taken, the rest refused."""
    built = DAG(
        "documented",
        doc_md="# ETL",
        dag_display_name="The ETL",
        access_control={"Viewer": {"can_read"}},
        owner_links={"team": "https://example.org"},
    )
    assert (built.doc_md, built.dag_display_name) == ("# ETL", "The ETL")
    assert set(built.airflow_only) == {"access_control", "owner_links"}
    with pytest.raises(DagDefinitionError, match=r"DAG 'old': schedule_interval is not supported"):
        DAG("old", schedule_interval="@daily")
    with pytest.raises(DagDefinitionError, match=r"unknown keyword 'catchupp'; did you mean"):
        DAG("typo", catchupp=True)
