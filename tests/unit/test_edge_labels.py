"""Label: ``a >> Label("text") >> b`` links a to b and records the text on that edge."""

from __future__ import annotations

import pytest

from asyncflow import DAG, DagDefinitionError, EmptyOperator, Label, TaskGroup, chain, task


def empty(*task_ids: str) -> list[EmptyOperator]:
    """An EmptyOperator per id, in the DAG being defined."""
    return [EmptyOperator(task_id=task_id) for task_id in task_ids]


def test_a_label_between_two_tasks_links_them_and_labels_the_edge() -> None:
    """The dependency is made as by a >> b, with {"label": text} on the edge."""
    with DAG("labels") as built:
        a, b = empty("a", "b")
        returned = a >> Label("when ready") >> b
    assert returned is b
    assert b.upstream_task_ids == {"a"}
    assert built.get_edge_info("a", "b") == {"label": "when ready"}
    assert built.edge_info == {"a": {"b": {"label": "when ready"}}}


def test_an_edge_without_a_label_has_no_info() -> None:
    """get_edge_info gives {} for a plain edge."""
    with DAG("plain") as built:
        a, b = empty("a", "b")
        a >> b
    assert built.get_edge_info("a", "b") == {}


def test_a_label_between_lists_labels_every_edge() -> None:
    """[a, b] >> Label >> [c, d] makes and labels the four edges."""
    with DAG("lists") as built:
        a, b, c, d = empty("a", "b", "c", "d")
        [a, b] >> Label("fan") >> [c, d]
    for up in "ab":
        for down in "cd":
            assert up in built.get_task(down).upstream_task_ids
            assert built.get_edge_info(up, down) == {"label": "fan"}


def test_a_label_links_a_groups_leaves_and_roots() -> None:
    """A group before a label contributes its leaves; after it, its roots."""
    with DAG("groups") as built:
        start, end = empty("start", "end")
        with TaskGroup("work") as work:
            first, last = empty("first", "last")
            first >> last
        start >> Label("in") >> work >> Label("out") >> end
    assert built.get_task("work.first").upstream_task_ids == {"start"}
    assert built.get_task("end").upstream_task_ids == {"work.last"}
    assert built.get_edge_info("start", "work.first") == {"label": "in"}
    assert built.get_edge_info("work.last", "end") == {"label": "out"}
    assert built.get_edge_info("work.first", "work.last") == {}


def test_a_label_works_leftwards_with_task_results_and_in_chain() -> None:
    """Leftward links, a task's result and chain(a, Label, b) all label the edge."""
    with DAG("other_forms") as built:

        @task
        def produce() -> int:
            return 1

        a, b, c, d = empty("a", "b", "c", "d")
        b << Label("left") << a
        produce() >> Label("result") >> c
        chain(a, Label("chained"), d)
    assert built.get_edge_info("a", "b") == {"label": "left"}
    assert built.get_edge_info("produce", "c") == {"label": "result"}
    assert built.get_edge_info("a", "d") == {"label": "chained"}
    assert built.get_task("d").upstream_task_ids == {"a"}


def test_a_labelled_dag_runs_like_the_unlabelled_one() -> None:
    """Labels change nothing at run time: the linked tasks run in order."""
    with DAG("labelled_run") as built:
        a, b = empty("a", "b")
        a >> Label("then") >> b
    result = built.test()
    assert result.state == "success"
    assert result.ti("a").end_date <= result.ti("b").start_date  # type: ignore[operator]


@pytest.mark.parametrize("text", ["", None, 3])
def test_a_label_needs_text(text: object) -> None:
    """Label refuses an empty string or a non-string with one line."""
    with pytest.raises(DagDefinitionError, match=r"^Label takes a non-empty string, got "):
        Label(text)  # type: ignore[arg-type]


def test_a_label_refuses_what_is_not_a_task() -> None:
    """A label next to a string or another label fails naming what was given."""
    with DAG("bad_labels"):
        a = EmptyOperator(task_id="a")
        with pytest.raises(DagDefinitionError, match=r"^cannot set a dependency on str 'a'"):
            "a" >> Label("x")
        with pytest.raises(DagDefinitionError, match=r"cannot be linked to another label"):
            a >> Label("x") >> Label("y")
