"""BaseNotifier: Airflow's notifier shape, used as task and DAG callbacks, templates rendered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog

from asyncflow import DAG, BaseNotifier, DagDefinitionError, DagRunState, FailTask, task
from asyncflow.notifier import NotifierTemplateError, render_value


class Collect(BaseNotifier):
    """Keeps what each call rendered (sync notify: runs in a worker thread)."""

    template_fields = ("message", "tags")

    def __init__(self, message: str, tags: list[str] | None = None) -> None:
        super().__init__()
        self.message = message
        self.tags = tags or []
        self.sent: list[tuple[str, list[str]]] = []

    def notify(self, context: Mapping[str, Any]) -> None:
        self.sent.append((self.message, self.tags))


class AsyncCollect(Collect):
    """The same, with an async notify that runs on the event loop."""

    async def notify(self, context: Mapping[str, Any]) -> None:  # type: ignore[override]
        await anyio.lowlevel.checkpoint()
        self.sent.append((self.message, self.tags))


@task
def fails() -> None:
    raise FailTask("disk full")


def test_a_notifier_is_a_task_failure_callback_with_its_fields_rendered() -> None:
    """on_failure_callback=notifier renders the template with the task's context and sends it."""
    notifier = Collect("{{ dag.dag_id }}.{{ ti.task_id }} failed: {{ exception }}", ["{{ ds }}"])
    with DAG("alerts") as built:
        fails.override(on_failure_callback=notifier)()
    result = built.test()
    assert result.state is DagRunState.FAILED
    ds = result.logical_date.date().isoformat()
    assert notifier.sent == [("alerts.fails failed: FailTask: disk full", [ds])]
    assert notifier.message.startswith("{{")  # the notifier itself keeps its templates


def test_an_async_notifier_is_a_dag_success_callback() -> None:
    """A notifier with an async notify works as a DAG's on_success_callback."""
    notifier = AsyncCollect("run {{ run_id }} of {{ dag.dag_id }}: {{ reason }}")
    with DAG("done", on_success_callback=notifier) as built:

        @task
        def work() -> None:
            pass

        work()
    result = built.test()
    assert notifier.sent == [(f"run {result.run_id} of done: success", [])]


def test_a_template_that_does_not_parse_names_the_notifier_and_field() -> None:
    """A broken template fails with one line naming the notifier class and the field."""
    with pytest.raises(NotifierTemplateError, match=r"Collect: template field 'message' does"):
        Collect("{{ unclosed").render({})


def test_render_value_renders_strings_inside_containers_only() -> None:
    """Strings in lists, tuples and dict values are rendered; other values pass through."""
    context = {"ds": "2026-01-02"}
    assert render_value({"d": ("{{ ds }}", 1), "n": None}, context) == {
        "d": ("2026-01-02", 1),
        "n": None,
    }
    assert render_value("plain {ds}", context) == "plain {ds}"


def test_a_notifier_does_not_show_its_fields_in_its_repr() -> None:
    """repr() names the class only, since fields may hold tokens."""
    assert repr(Collect("token=s3cret")) == "<Collect>"


def test_the_sandbox_refuses_to_reach_into_python_internals() -> None:
    """Templates render in Jinja2's sandbox, so they cannot reach private attributes."""
    with pytest.raises(NotifierTemplateError, match="does not render"):
        Collect("{{ ''.__class__.__mro__ }}").render({})


class Broken(BaseNotifier):
    """A notifier whose sending always fails."""

    def notify(self, context: Mapping[str, Any]) -> None:
        raise ConnectionError("mail server down")


def test_a_list_of_notifiers_calls_each_and_reports_the_failures_together() -> None:
    """on_failure_callback=[a, b]: both are called, one failure does not stop the other."""
    works = Collect("{{ ti.task_id }}")
    with DAG("two_alerts") as built:
        fails.override(on_failure_callback=[Broken(), works])()
    with structlog.testing.capture_logs() as events:
        built.test()
    assert works.sent == [("fails", [])]
    (failed,) = [e for e in events if e["event"] == "callback_failed"]
    assert failed["error"] == (
        "CallbacksFailed: 1 of 2 callbacks failed: <Broken>: ConnectionError: mail server down"
    )


def test_a_callback_list_checks_each_item() -> None:
    """A list holding something not callable fails naming the keyword; [] means none."""
    with DAG("bad_list"):
        with pytest.raises(DagDefinitionError, match="on_retry_callback must be callable, got 3"):
            fails.override(on_retry_callback=[print, 3])()
        made = fails.override(on_retry_callback=[])()
    assert made.operator.on_retry_callback is None
