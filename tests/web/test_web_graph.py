"""The graph view's layout: levels after upstream tasks, top-level task groups apart."""

from __future__ import annotations

from asyncflow import DAG, EmptyOperator, TaskGroup
from asyncflow.web.graph import sections


def test_tasks_by_level_and_top_group() -> None:
    """Ungrouped tasks come first; a nested group's tasks are in their top group's section."""
    with DAG("grouped") as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("load") as load:
            a = EmptyOperator(task_id="a")
            with TaskGroup("inner"):
                b = EmptyOperator(task_id="b")
            a >> b
        end = EmptyOperator(task_id="end")
        start >> load >> end
    laid = sections(dag)
    assert [s.group_id for s in laid] == [None, "load"]
    assert {level: [n.task_id for n in nodes] for level, nodes in laid[0].levels.items()} == {
        0: ["start"],
        3: ["end"],
    }
    assert {level: [n.task_id for n in nodes] for level, nodes in laid[1].levels.items()} == {
        1: ["load.a"],
        2: ["load.inner.b"],
    }
    assert laid[1].levels[2][0].upstream == ["load.a"]
    assert laid[1].size == 2
