"""Setup and teardown tasks as Airflow has them, defined and run through the public API."""

from __future__ import annotations

from typing import Any

import pytest

from asyncflow import (
    DAG,
    BashOperator,
    DagDefinitionError,
    DagRunResult,
    DagRunState,
    EmptyOperator,
    FailTask,
    SkipTask,
    TaskGroup,
    TaskState,
    TriggerRule,
    setup,
    task,
    task_group,
    teardown,
)

S = TaskState


def states(result: DagRunResult) -> dict[str, TaskState | None]:
    return {ti.task_id: ti.state for ti in result.task_instances}


def upstream(built: DAG, task_id: str) -> list[str]:
    return sorted(built.get_task(task_id).upstream_task_ids)


@task
def ok() -> str:
    return "ok"


@task
def boom() -> None:
    raise FailTask("work failed")


def airflow_example() -> DAG:
    """Airflow's example_setup_teardown_taskflow, its import line aside."""
    with DAG("example_setup_teardown_taskflow", schedule=None, tags=["example"]) as built:

        @task
        def my_first_task() -> None:
            print("Hello 1")

        @task
        def my_second_task() -> None:
            print("Hello 2")

        @task
        def my_third_task() -> None:
            print("Hello 3")

        task_1 = my_first_task()
        task_2 = my_second_task()
        task_3 = my_third_task()
        task_1 >> task_2 >> task_3.as_teardown(setups=task_1)

        @setup
        def outer_setup() -> str:
            return "some cluster id"

        @teardown
        def outer_teardown(cluster_id: str) -> None:
            print(f"Tearing down cluster: {cluster_id}")

        @task
        def outer_work() -> None:
            print("I am just a normal task")

        @task_group
        def section_1() -> None:
            @setup
            def inner_setup() -> str:
                return "some_cluster_id"

            @task
            def inner_work(cluster_id: str) -> None:
                print(f"doing some work with {cluster_id=}")

            @teardown
            def inner_teardown(cluster_id: str) -> None:
                print(f"tearing down {cluster_id=}")

            inner_setup_task = inner_setup()
            inner_work(inner_setup_task) >> inner_teardown(inner_setup_task)

        with outer_teardown(outer_setup()):
            outer_work()
            section_1()
    return built


# --- defining -----------------------------------------------------------------------------
def test_as_teardown_marks_both_links_them_and_sets_the_rule() -> None:
    """as_teardown(setups=s) marks both, links s >> t and gives t all_done_setup_success."""
    with DAG("marks") as built:
        s, w, t = (EmptyOperator(task_id=i) for i in "swt")
        s >> w >> t.as_teardown(setups=s)
    assert (s.is_setup, s.is_teardown, t.is_setup, t.is_teardown) == (True, False, False, True)
    assert upstream(built, "t") == ["s", "w"]
    assert t.trigger_rule is TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert t.on_failure_fail_dagrun is False


def test_airflow_example_wires_as_airflow_draws_it() -> None:
    """The context manager puts outer_work and section_1 between outer_setup and outer_teardown."""
    built = airflow_example()
    assert upstream(built, "my_third_task") == ["my_first_task", "my_second_task"]
    assert upstream(built, "outer_work") == ["outer_setup"]
    assert upstream(built, "section_1.inner_setup") == ["outer_setup"]
    assert upstream(built, "outer_teardown") == [
        "outer_setup",
        "outer_work",
        "section_1.inner_teardown",
    ]
    assert built.get_task("section_1.inner_setup").is_setup
    assert built.get_task("section_1.inner_teardown").is_teardown


def test_airflow_example_runs_every_task_to_success() -> None:
    """Airflow's example runs with every task succeeding, as on Airflow."""
    result = airflow_example().test()
    assert result.state is DagRunState.SUCCESS
    assert set(states(result).values()) == {S.SUCCESS}
    assert len(result.task_instances) == 9


def test_a_group_ignores_its_teardown_when_linked_downstream() -> None:
    """Linking a group >> x links the work before the group's teardown, not the teardown, to x."""
    with DAG("groups") as built:
        with TaskGroup("g") as group:
            s, w, t = (EmptyOperator(task_id=i) for i in "swt")
            s >> w >> t.as_teardown(setups=s)
        group >> EmptyOperator(task_id="after")
    assert upstream(built, "after") == ["g.w"]


def test_setup_decorator_on_a_task_decorator_leaves_the_original_alone() -> None:
    """@setup over @task makes setup tasks; the @task it wrapped still makes plain ones."""
    made_setup = setup(ok)
    with DAG("deco"):
        first = made_setup()
        second = ok()
    assert first.operator.is_setup
    assert not second.operator.is_setup


def test_teardown_decorator_takes_on_failure_fail_dagrun() -> None:
    """@teardown(on_failure_fail_dagrun=True) makes teardowns whose failure counts."""

    @teardown(on_failure_fail_dagrun=True)
    def clean() -> None:
        pass

    with DAG("deco_args"):
        made = clean()
    assert made.operator.is_teardown
    assert made.operator.on_failure_fail_dagrun is True


# --- running ------------------------------------------------------------------------------
def test_teardown_runs_after_failed_work_and_the_run_fails() -> None:
    """Work fails: the teardown still runs, and the run fails because the work did."""
    with DAG("work_fails") as built:
        s = EmptyOperator(task_id="s")
        s >> boom() >> EmptyOperator(task_id="t").as_teardown(setups=s)
    result = built.test()
    assert states(result) == {"s": S.SUCCESS, "boom": S.FAILED, "t": S.SUCCESS}
    assert result.state is DagRunState.FAILED


def test_teardown_runs_after_upstream_failed_work() -> None:
    """Work that never ran for an upstream failure does not stop the teardown."""
    with DAG("chain_fails") as built:
        s = EmptyOperator(task_id="s")
        s >> boom() >> ok() >> EmptyOperator(task_id="t").as_teardown(setups=s)
    result = built.test()
    assert states(result)["ok"] is S.UPSTREAM_FAILED
    assert states(result)["t"] is S.SUCCESS
    assert result.state is DagRunState.FAILED


def test_a_failing_teardown_does_not_fail_the_run() -> None:
    """Work succeeds and the teardown fails: the run succeeds, as in Airflow."""
    with DAG("teardown_fails") as built:
        s = EmptyOperator(task_id="s")
        s >> ok() >> boom().as_teardown(setups=s)
    result = built.test()
    assert states(result) == {"s": S.SUCCESS, "ok": S.SUCCESS, "boom": S.FAILED}
    assert result.state is DagRunState.SUCCESS


def test_on_failure_fail_dagrun_lets_a_failing_teardown_fail_the_run() -> None:
    """With on_failure_fail_dagrun=True the teardown's failure fails the run."""
    with DAG("teardown_counts") as built:
        s = EmptyOperator(task_id="s")
        s >> ok() >> boom().as_teardown(setups=s, on_failure_fail_dagrun=True)
    result = built.test()
    assert states(result)["boom"] is S.FAILED
    assert result.state is DagRunState.FAILED


def test_a_failed_setup_leaves_work_and_teardown_upstream_failed() -> None:
    """No setup succeeded: the work and the teardown become upstream_failed; the run fails."""
    with DAG("setup_fails") as built:
        s = boom().as_setup()
        s >> ok() >> EmptyOperator(task_id="t").as_teardown(setups=s)
    result = built.test()
    assert states(result) == {"boom": S.FAILED, "ok": S.UPSTREAM_FAILED, "t": S.UPSTREAM_FAILED}
    assert result.state is DagRunState.FAILED


def test_a_skipped_setup_skips_its_teardown() -> None:
    """Every setup skipped: the work and the teardown are skipped; the run succeeds."""

    @setup
    def maybe() -> None:
        raise SkipTask("nothing to set up")

    with DAG("setup_skips") as built:
        s = maybe()
        s >> ok() >> EmptyOperator(task_id="t").as_teardown(setups=s)
    result = built.test()
    assert states(result) == {"maybe": S.SKIPPED, "ok": S.SKIPPED, "t": S.SKIPPED}
    assert result.state is DagRunState.SUCCESS


def test_one_successful_setup_of_two_is_enough_for_the_teardown() -> None:
    """With setups=[a, b], a teardown runs when one of them succeeded."""
    with DAG("two_setups") as built:
        good, bad = EmptyOperator(task_id="good"), boom()
        EmptyOperator(task_id="t").as_teardown(setups=[good, bad])
    result = built.test()
    assert states(result)["t"] is S.SUCCESS
    # the failed setup is a leaf once its teardown is set aside, so the run fails
    assert result.state is DagRunState.FAILED


def test_the_teardown_gets_its_setups_result() -> None:
    """A teardown passed the setup's result receives it, as with any XComArg."""
    seen: list[Any] = []

    @setup
    def create() -> str:
        return "cluster-7"

    @teardown
    def delete(cluster: str) -> None:
        seen.append(cluster)

    with DAG("passes") as built:
        cluster = create()
        ok() >> delete(cluster)
        cluster >> ok.override(task_id="use")()
    assert built.test().state is DagRunState.SUCCESS
    assert seen == ["cluster-7"]


# --- bad input ------------------------------------------------------------------------------
def test_a_teardown_cannot_become_a_setup() -> None:
    """as_setup() on a teardown fails naming the task."""
    with DAG("twice"):
        t = EmptyOperator(task_id="t").as_teardown()
        with pytest.raises(DagDefinitionError, match="task 't' is a teardown task, so it cannot"):
            t.as_setup()


def test_a_setup_cannot_become_a_teardown() -> None:
    """as_teardown() on a setup fails naming the task."""
    with DAG("twice_too"):
        s = EmptyOperator(task_id="s").as_setup()
        with pytest.raises(DagDefinitionError, match="task 's' is a setup task, so it cannot"):
            s.as_teardown()


def test_setups_must_be_tasks() -> None:
    """as_teardown(setups="s") fails saying what it takes."""
    with DAG("bad_setups"):
        t = EmptyOperator(task_id="t")
        with pytest.raises(DagDefinitionError, match=r"setups=\.\.\.\) takes tasks"):
            t.as_teardown(setups="s")


def test_on_failure_fail_dagrun_must_be_a_bool() -> None:
    """as_teardown(on_failure_fail_dagrun="yes") fails naming the keyword."""
    with DAG("bad_flag"):
        t = EmptyOperator(task_id="t")
        with pytest.raises(DagDefinitionError, match="on_failure_fail_dagrun must be True or"):
            t.as_teardown(on_failure_fail_dagrun="yes")  # type: ignore[arg-type]
    with pytest.raises(DagDefinitionError, match="@teardown: on_failure_fail_dagrun must be"):
        teardown(on_failure_fail_dagrun="yes")  # type: ignore[call-overload]


def test_with_takes_only_a_setup_or_teardown() -> None:
    """`with task:` on a plain task fails saying to mark it first."""
    with DAG("plain_with"):
        plain = EmptyOperator(task_id="plain")
        with pytest.raises(DagDefinitionError, match="`with` takes a setup or teardown task"):
            plain.__enter__()


def test_setup_decorates_functions_only() -> None:
    """@setup on something that is not a function fails naming what it got."""
    with pytest.raises(DagDefinitionError, match="@setup decorates a function or a @task"):
        setup(42)  # type: ignore[arg-type]
    with pytest.raises(DagDefinitionError, match="already a setup task"):
        setup(setup(ok))


def test_a_setups_work_task_must_use_all_success() -> None:
    """A work task right after a setup with another trigger rule fails when the DAG closes."""
    with DAG("bad_rule") as built:
        s = EmptyOperator(task_id="s").as_setup()
        s >> EmptyOperator(task_id="w", trigger_rule="one_failed")
        with pytest.raises(DagDefinitionError, match="task 'w' follows setup task 's', so its"):
            built.validate()
        built.get_task("w").trigger_rule = TriggerRule.ALL_SUCCESS  # let the block close


def test_airflows_classic_example_runs_every_task_to_success() -> None:
    """Airflow's example_setup_teardown (BashOperator, a TaskGroup), its imports aside."""
    with DAG("example_setup_teardown", schedule=None, tags=["example"]) as built:
        root_setup = BashOperator(task_id="root_setup", bash_command="echo 'setup'").as_setup()
        root_normal = BashOperator(task_id="normal", bash_command="echo 'normal'")
        root_teardown = BashOperator(
            task_id="root_teardown", bash_command="echo 'teardown'"
        ).as_teardown(setups=root_setup)
        root_setup >> root_normal >> root_teardown
        with TaskGroup("section_1") as section_1:
            inner_setup = BashOperator(
                task_id="taskgroup_setup", bash_command="echo 'inner setup'"
            ).as_setup()
            inner_normal = BashOperator(task_id="normal", bash_command="echo 'inner normal'")
            inner_teardown = BashOperator(
                task_id="taskgroup_teardown", bash_command="echo 'inner teardown'"
            ).as_teardown(setups=inner_setup)
            inner_setup >> inner_normal >> inner_teardown
        root_normal >> section_1
    assert upstream(built, "section_1.taskgroup_setup") == ["normal"]
    result = built.test()
    assert result.state is DagRunState.SUCCESS
    assert set(states(result).values()) == {S.SUCCESS}
    assert len(states(result)) == 6
