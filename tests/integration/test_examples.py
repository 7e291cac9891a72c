"""Every example DAG loads, runs to success with ``dag.test()`` and shows its pattern."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from asyncflow import DAG, DagRunResult, DagRunState, TaskState
from asyncflow.dag_loader import DagBag, load_dags
from asyncflow.schedule import NoSchedule

EXAMPLES = Path(__file__).parents[2] / "examples"
EXAMPLE_IDS = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
# Examples whose default params make a slow test run, with the conf that keeps them short.
FAST_CONF: dict[str, dict[str, object]] = {"poll_for_job": {"job_seconds": 1}}
RUNS = EXAMPLE_IDS


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return load_dags(EXAMPLES)


def run(bag: DagBag, dag_id: str) -> DagRunResult:
    result = bag.dags[dag_id].test(conf=FAST_CONF.get(dag_id))
    assert result.state == DagRunState.SUCCESS, [
        (ti.task_id, ti.map_index, ti.state, ti.error) for ti in result.task_instances
    ]
    return result


def test_examples_load_without_errors(bag: DagBag) -> None:
    """Every example file imports and defines one DAG named after the file."""
    assert bag.errors == {}
    assert sorted(bag.dags) == EXAMPLE_IDS
    for dag_id, dag in bag.dags.items():
        assert isinstance(dag, DAG)
        assert dag.fileloc == str(EXAMPLES / f"{dag_id}.py")
        assert isinstance(dag.schedule, NoSchedule)


@pytest.mark.parametrize("dag_id", EXAMPLE_IDS)
def test_examples_have_a_docstring_naming_the_pattern(dag_id: str) -> None:
    """Each example file opens with a module docstring that says what it shows."""
    docstring = ast.get_docstring(ast.parse((EXAMPLES / f"{dag_id}.py").read_text()))
    assert docstring, f"{dag_id}.py has no module docstring"


@pytest.mark.parametrize("dag_id", RUNS)
def test_every_example_succeeds(bag: DagBag, dag_id: str) -> None:
    """Each example DAG's run succeeds with every task instance finished."""
    result = run(bag, dag_id)
    assert all(ti.state is not None for ti in result.task_instances)


def test_single_task_returns_its_value(bag: DagBag) -> None:
    """The single task's return value is its XCom result."""
    result = run(bag, "single_task")
    assert result.ti("say_hello").state == TaskState.SUCCESS
    assert result.xcom("say_hello") == "hello, world"


def test_two_in_series_runs_second_after_first(bag: DagBag) -> None:
    """The second task starts only after the first one ended."""
    result = run(bag, "two_in_series")
    first, second = result.ti("first"), result.ti("second")
    assert first.end_date is not None
    assert second.start_date is not None
    assert second.start_date >= first.end_date


def test_two_in_parallel_overlap_in_time(bag: DagBag) -> None:
    """The two independent tasks run at the same time."""
    result = run(bag, "two_in_parallel")
    left, right = result.ti("left"), result.ti("right")
    assert None not in (left.start_date, left.end_date, right.start_date, right.end_date)
    assert left.start_date < right.end_date
    assert right.start_date < left.end_date


def test_pass_data_by_return_flows_through_arguments(bag: DagBag) -> None:
    """Each task receives the previous task's return value as its argument."""
    result = run(bag, "pass_data_by_return")
    assert result.xcom("extract") == {"apples": 3, "pears": 4}
    assert result.xcom("transform") == 7
    assert result.xcom("load") == "loaded 7 fruits"


def test_xcom_push_pull_reads_values_in_async_and_sync_tasks(bag: DagBag) -> None:
    """Values pushed under keys are pulled by a non-adjacent async task and a sync task."""
    result = run(bag, "xcom_push_pull")
    assert result.xcom("produce", key="batch_id") == "batch-42"
    assert result.xcom("consume_async") == "async read batch-42"
    assert result.xcom("consume_sync") == 6


def test_fan_out_fan_in_joins_despite_a_skipped_branch(bag: DagBag) -> None:
    """The join runs after a skipped branch and sums the others; cleanup runs at the end."""
    result = run(bag, "fan_out_fan_in")
    assert result.ti("optional_step").state == TaskState.SKIPPED
    assert result.ti("join").state == TaskState.SUCCESS
    assert result.xcom("join") == 10 * 2 + 10 * 10
    cleanup, join = result.ti("cleanup"), result.ti("join")
    assert cleanup.state == TaskState.SUCCESS
    assert cleanup.start_date is not None
    assert join.end_date is not None
    assert cleanup.start_date >= join.end_date


def test_branching_skips_the_path_not_chosen(bag: DagBag) -> None:
    """The branch follows big_order for the default amount, skips small_order, and joins."""
    result = run(bag, "branching")
    assert result.xcom("choose_path") == "big_order"
    assert result.ti("big_order").state == TaskState.SUCCESS
    assert result.ti("small_order").state == TaskState.SKIPPED
    assert result.ti("notify").state == TaskState.SUCCESS


def test_branching_follows_conf(bag: DagBag) -> None:
    """A small amount in the run's conf takes the other path."""
    result = bag.dags["branching"].test(conf={"amount": 5})
    assert result.state == DagRunState.SUCCESS
    assert result.ti("big_order").state == TaskState.SKIPPED
    assert result.ti("small_order").state == TaskState.SUCCESS
    assert result.ti("notify").state == TaskState.SUCCESS


def test_dynamic_mapping_sums_the_mapped_results(bag: DagBag) -> None:
    """Mapped instances run per value and the reduce task sums their results in order."""
    result = run(bag, "dynamic_mapping")
    assert [result.xcom("add_one", map_index=i) for i in range(3)] == [2, 3, 4]
    assert [result.xcom("size_of", map_index=i) for i in range(3)] == [5, 6, 7]
    assert [result.xcom("multiply", map_index=i) for i in range(2)] == [10, 20]
    assert result.xcom("total") == (2 + 3 + 4) + (5 + 6 + 7) + (10 + 20)


def test_bash_task_returns_the_last_stdout_line(bag: DagBag) -> None:
    """Both shell tasks succeed and their result is the last line they printed."""
    result = run(bag, "bash_task")
    assert result.xcom("greet") == "hello asyncflow"
    assert str(result.xcom("count_words")).strip() == "3"


def test_task_groups_prefix_their_tasks_and_pass_results_on(bag: DagBag) -> None:
    """The groups' tasks run under prefixed ids and the decorated group's result reaches report."""
    result = run(bag, "task_groups")
    assert result.xcom("transform.enrich") == (120 - 1) * 2
    assert result.xcom("transform__1.enrich") == (30 - 1) * 2
    assert result.xcom("report") == f"{(119 + 29) * 2} rows ready"
    assert result.ti("extract.orders").state == TaskState.SUCCESS


def test_airflow_extras_run_everything_in_a_manual_run_and_label_edges(bag: DagBag) -> None:
    """A manual run skips nothing after LatestOnly, every sensor is done, and edges keep labels."""
    result = run(bag, "airflow_extras")
    assert {ti.state for ti in result.task_instances} == {TaskState.SUCCESS}
    assert result.xcom("publish") == "published"
    dag = bag.dags["airflow_extras"]
    assert dag.get_edge_info("latest_only", "ready") == {"label": "latest run only"}
    assert dag.get_edge_info("any_day", "publish") == {"label": "all waits over"}


def test_setup_teardown_drops_the_table_after_the_work(bag: DagBag) -> None:
    """The teardown runs after the work that used the setup's table, and gets its name."""
    result = run(bag, "setup_teardown")
    assert result.xcom("drop_table") == "dropped scratch_orders"
    assert bag.dags["setup_teardown"].get_task("drop_table").upstream_task_ids == {
        "create_table",
        "report",
    }


def test_notifiers_log_their_rendered_messages(
    bag: DagBag, caplog: pytest.LogCaptureFixture
) -> None:
    """The task's and the DAG's notifiers log their messages, rendered with the context."""
    caplog.set_level("WARNING", logger="examples.notifiers")
    result = run(bag, "notifiers")
    messages = [r.getMessage() for r in caplog.records if r.name == "examples.notifiers"]
    assert messages == ["load loaded 3 rows", f"notifiers: run {result.run_id} succeeded"]


def test_isolated_python_runs_both_functions_in_children(bag: DagBag) -> None:
    """The external-python and virtualenv tasks hand JSON to each other: Lima is warmest."""
    result = run(bag, "isolated_python")
    assert result.xcom("extract")[1] == {"city": "Lima", "temp": 19}
    assert result.xcom("warmest") == "Lima"


def test_mapped_task_group_pairs_each_files_steps(bag: DagBag) -> None:
    """Each group instance weighs its own file's size; total sums the three instances."""
    result = run(bag, "mapped_task_group")
    assert [result.xcom("load.weigh", map_index=i) for i in range(3)] == [20, 22, 12]
    assert result.xcom("total") == 54
