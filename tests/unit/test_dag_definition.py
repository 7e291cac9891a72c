"""Defining DAGs: dependencies, defaults and the errors raised at definition time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from asyncflow import DAG, EmptyOperator, PythonOperator, TriggerRule, chain, dag, task
from asyncflow.exceptions import CycleError, DagDefinitionError, DuplicateTaskIdError


def test_rshift_and_lshift_set_both_sides() -> None:
    """`a >> b` and `c << b` record the dependency on both tasks."""
    with DAG("deps"):
        a, b, c = (EmptyOperator(task_id=t) for t in "abc")
        a >> b
        c << b
    assert a.downstream_task_ids == {"b"}
    assert b.upstream_task_ids == {"a"}
    assert c.upstream_task_ids == {"b"}


def test_lists_on_either_side_of_shift() -> None:
    """`[a, b] >> c` and `c >> [d, e]` fan in and out."""
    with DAG("lists"):
        a, b, c, d, e = (EmptyOperator(task_id=t) for t in "abcde")
        [a, b] >> c >> [d, e]
    assert c.upstream_task_ids == {"a", "b"}
    assert c.downstream_task_ids == {"d", "e"}


def test_chain_links_in_series_and_lists_pairwise() -> None:
    """chain(a, [b, c], [d, e], f) links a to both, b to d, c to e, and both to f."""
    with DAG("chained"):
        a, b, c, d, e, f = (EmptyOperator(task_id=t) for t in "abcdef")
        chain(a, [b, c], [d, e], f)
    assert a.downstream_task_ids == {"b", "c"}
    assert b.downstream_task_ids == {"d"}
    assert c.downstream_task_ids == {"e"}
    assert f.upstream_task_ids == {"d", "e"}


def test_chain_of_lists_with_different_lengths_fails() -> None:
    """Two adjacent lists of different lengths cannot be linked pairwise."""
    with DAG("bad_chain"):
        a, b, c = (EmptyOperator(task_id=t) for t in "abc")
        with pytest.raises(DagDefinitionError, match="same length; got 2 and 1"):
            chain([a, b], [c])


def test_cycle_fails_when_the_dag_is_defined_naming_its_tasks() -> None:
    """A cycle raises CycleError at the end of the with block, listing the tasks on it."""
    loop = DAG("loop")
    with pytest.raises(CycleError) as info:  # noqa: PT012, SIM117 - the with block's end is what raises
        with loop:
            a, b, c, d = (EmptyOperator(task_id=t) for t in "abcd")
            d >> a >> b >> c >> a
    assert str(info.value) == "DAG 'loop' has a cycle: a >> b >> c >> a"


def test_self_dependency_is_a_cycle() -> None:
    """A task depending on itself is reported at once."""
    with DAG("selfish"):
        a = EmptyOperator(task_id="a")
        with pytest.raises(DagDefinitionError, match="cycle: a >> a"):
            a >> a


def test_cycle_in_a_dag_function_fails_when_it_is_called() -> None:
    """An @dag function building a cycle raises when called."""

    @dag()
    def cyclic() -> None:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b >> a

    with pytest.raises(CycleError, match="DAG 'cyclic' has a cycle: a >> b >> a"):
        cyclic()


def test_duplicate_task_id_fails_naming_it() -> None:
    """Two tasks with one id raise DuplicateTaskIdError naming the DAG and the id."""
    with DAG("dupes"):
        EmptyOperator(task_id="same")
        with pytest.raises(DuplicateTaskIdError) as info:
            EmptyOperator(task_id="same")
    assert "DAG 'dupes': duplicate task_id 'same'" in str(info.value)


def test_unknown_trigger_rule_fails_naming_task_and_suggestion() -> None:
    """A misspelt trigger rule names the task, the value and the closest rule."""
    with DAG("rules"), pytest.raises(DagDefinitionError) as info:
        EmptyOperator(task_id="join", trigger_rule="all_sucess")
    message = str(info.value)
    assert "task 'join'" in message
    assert "'all_sucess'" in message
    assert "all_success" in message


def test_trigger_rule_accepts_enum_and_plain_string() -> None:
    """TriggerRule members and their strings are both accepted."""
    with DAG("rules_ok"):
        a = EmptyOperator(task_id="a", trigger_rule=TriggerRule.ONE_FAILED)
        b = EmptyOperator(task_id="b", trigger_rule="all_done")
    assert a.trigger_rule == "one_failed"
    assert b.trigger_rule is TriggerRule.ALL_DONE


@pytest.mark.parametrize(
    "schedule", ["*/5 * * *", "61 * * * *", "every day", "@fortnightly"], ids=str
)
def test_invalid_schedule_fails_when_the_dag_is_defined(schedule: str) -> None:
    """An invalid cron string raises at DAG() naming the DAG and the string."""
    with pytest.raises(DagDefinitionError) as info:
        DAG("sched", schedule=schedule)
    assert "DAG 'sched'" in str(info.value)
    assert repr(schedule) in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"retries": "3"}, "task 't': retries must be a whole number >= 0, got '3'"),
        ({"retries": -1}, "retries must be a whole number >= 0"),
        (
            {"retry_delay": "five"},
            "task 't': retry_delay must be a timedelta or a number of seconds",
        ),
        ({"execution_timeout": [1]}, "execution_timeout"),
        ({"priority_weight": 1.5}, "task 't': priority_weight must be a whole number"),
        ({"pool": 3}, "task 't': pool must be a string"),
        ({"depends_on_past": "yes"}, "depends_on_past must be True or False"),
        ({"on_failure_callback": "print"}, "on_failure_callback must be callable"),
        ({"task_id": "has space"}, "invalid task_id 'has space'"),
        ({"task_id": 7}, "task_id must be a string"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_task_argument_of_wrong_type_fails_naming_it(kwargs: dict, fragment: str) -> None:
    """A task keyword of the wrong type or value raises naming the task and the keyword."""
    arguments = {"task_id": "t", **kwargs}
    with DAG("typed"), pytest.raises(DagDefinitionError) as info:
        EmptyOperator(**arguments)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_active_runs": 0}, "DAG 'd': max_active_runs must be a positive whole number"),
        ({"max_active_tasks": "8"}, "max_active_tasks must be a positive whole number"),
        ({"start_date": "2026-01-01"}, "DAG 'd': start_date must be a datetime, got str"),
        ({"catchup": "no"}, "catchup must be True or False"),
        ({"default_args": ["retries"]}, "default_args must be a dict"),
        ({"params": 3}, "params must be a dict"),
        ({"tags": "etl"}, "tags must be a list of strings"),
        ({"dagrun_timeout": "1h"}, "dagrun_timeout"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_dag_argument_of_wrong_type_fails_naming_it(kwargs: dict, fragment: str) -> None:
    """A DAG keyword of the wrong type raises naming the DAG and the keyword."""
    with pytest.raises(DagDefinitionError) as info:
        DAG("d", **kwargs)
    assert fragment in str(info.value)


def test_invalid_dag_id_fails() -> None:
    """A dag_id with characters outside letters, digits, _ . - is rejected."""
    with pytest.raises(DagDefinitionError, match="invalid dag_id 'my dag'"):
        DAG("my dag")


def test_default_args_fill_keywords_not_given() -> None:
    """default_args apply to every task; a keyword given to the task wins."""
    defaults = {"retries": 3, "retry_delay": 10, "pool": "io", "owner": "data"}
    with DAG("defaults", default_args=defaults):
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b", retries=0)
    assert (a.retries, a.retry_delay, a.pool, a.owner) == (3, timedelta(seconds=10), "io", "data")
    assert b.retries == 0


def test_task_defaults_follow_the_api() -> None:
    """Without default_args a task gets the documented defaults."""
    with DAG("plain"):
        a = EmptyOperator(task_id="a")
    assert a.retries == 0
    assert a.retry_delay == timedelta(seconds=300)
    assert a.retry_exponential_backoff is False
    assert a.max_retry_delay is None
    assert a.execution_timeout is None
    assert a.trigger_rule is TriggerRule.ALL_SUCCESS
    assert a.pool is None
    assert a.priority_weight == 1
    assert a.depends_on_past is False


def test_task_outside_a_dag_fails() -> None:
    """Creating a task with no DAG open says how to attach it."""
    with pytest.raises(DagDefinitionError, match="created outside a DAG"):
        EmptyOperator(task_id="orphan")


def test_dag_decorator_uses_function_name_and_docstring() -> None:
    """@dag builds a DAG named after the function, described by its docstring."""

    @dag(schedule="@daily", start_date=datetime(2026, 1, 1))
    def nightly_load() -> None:
        """Load the nightly files."""
        EmptyOperator(task_id="start")

    built = nightly_load()
    assert built.dag_id == "nightly_load"
    assert built.description == "Load the nightly files."
    assert built.task_ids == ["start"]
    assert built.start_date == datetime(2026, 1, 1, tzinfo=UTC)


def test_dag_decorator_without_parentheses_fails_clearly() -> None:
    """@dag used bare says to add the parentheses."""
    with pytest.raises(DagDefinitionError, match=r"@dag needs parentheses"):
        dag(lambda: None)  # type: ignore[arg-type]


def test_taskflow_call_returns_reference_and_adds_dependency() -> None:
    """Passing one task's result to another links them."""
    with DAG("flow"):

        @task
        def extract() -> list[int]:
            return [1, 2]

        @task
        def load(rows: list[int]) -> int:
            return len(rows)

        loaded = load(extract())
    assert loaded.operator.upstream_task_ids == {"extract"}


def test_calling_a_task_twice_gives_unique_ids() -> None:
    """A decorated function called twice in a DAG gets ids f and f__1."""
    with DAG("twice") as d:

        @task
        def step() -> None:
            return None

        step()
        step()
    assert d.task_ids == ["step", "step__1"]


def test_override_changes_task_keywords() -> None:
    """.override(task_id=..., retries=...) applies to that call only."""
    with DAG("over") as d:

        @task(retries=1)
        def step() -> None:
            return None

        step.override(task_id="first", retries=4)()
        step()
    assert d.get_task("first").retries == 4
    assert d.get_task("step").retries == 1


def test_task_call_that_does_not_match_the_signature_fails() -> None:
    """An unknown keyword argument to a task fails at definition naming the task."""
    with DAG("sig"):

        @task
        def add(x: int) -> int:
            return x

        with pytest.raises(DagDefinitionError, match="task 'add'"):
            add(y=1)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (
            lambda t: t.expand(x=5),
            "expand() needs a list, a dict or a task's result for 'x', got int",
        ),
        (lambda t: t.expand(), "expand() needs at least one argument"),
        (lambda t: t.partial(x=1).expand(x=[1]), "given to both partial() and expand()"),
        (lambda t: t.expand(z=[1]), "task 'double'"),
    ],
    ids=["scalar", "nothing", "overlap", "unknown-arg"],
)
def test_bad_expand_fails_at_definition(call: object, fragment: str) -> None:
    """expand() with a non-list, no argument, an overlap or an unknown argument fails."""
    with DAG("mapped"):

        @task
        def double(x: int) -> int:
            return 2 * x

        with pytest.raises(DagDefinitionError) as info:
            call(double)  # type: ignore[operator]
    assert fragment in str(info.value)


def test_iterating_a_task_result_at_definition_fails() -> None:
    """A task's result cannot be looped over while the DAG is defined."""
    with DAG("iterate"):

        @task
        def rows() -> list[int]:
            return [1]

        with pytest.raises(TypeError, match="only known at run time"):
            list(rows())


def test_python_operator_needs_a_callable() -> None:
    """PythonOperator(python_callable=...) rejects a non-callable."""
    with DAG("py"), pytest.raises(DagDefinitionError, match="python_callable must be callable"):
        PythonOperator(task_id="p", python_callable="print")  # type: ignore[arg-type]


def test_linking_tasks_of_two_dags_fails() -> None:
    """Dependencies across DAGs are rejected naming both."""
    with DAG("one"):
        a = EmptyOperator(task_id="a")
    with DAG("two"):
        b = EmptyOperator(task_id="b")
    with pytest.raises(DagDefinitionError, match="tasks must share a DAG"):
        a >> b


def test_roots_leaves_and_topological_order() -> None:
    """roots, leaves and topological_order follow the graph."""
    with DAG("shape") as d:
        a, b, c = (EmptyOperator(task_id=t) for t in "abc")
        a >> [b, c]
    assert [t.task_id for t in d.roots] == ["a"]
    assert sorted(t.task_id for t in d.leaves) == ["b", "c"]
    assert d.topological_order()[0].task_id == "a"


def test_output_is_the_tasks_result_reference() -> None:
    """operator.output is an XComArg of its return value, like Airflow's."""
    with DAG("outputs"):
        a = EmptyOperator(task_id="a")
    assert a.output.operator is a
    assert a.output.key == "return_value"
