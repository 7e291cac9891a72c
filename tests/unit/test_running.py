"""Running DAGs with dag.test(): results, XCom, context, retries, timeouts and control flow."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from asyncflow import (
    DAG,
    BashOperator,
    DagRunState,
    EmptyOperator,
    FailTask,
    SkipTask,
    TaskState,
    dag,
    get_current_context,
    task,
)


def test_return_values_flow_between_async_and_sync_tasks() -> None:
    """A sync task's return value reaches an async task as its argument, and back."""

    @dag()
    def flow() -> None:
        @task
        def extract() -> list[int]:
            return [1, 2, 3]

        @task
        async def total(rows: list[int]) -> int:
            return sum(rows)

        @task
        def report(value: int) -> str:
            return f"total={value}"

        report(total(extract()))

    result = flow().test()
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("extract") == [1, 2, 3]
    assert result.xcom("total") == 6
    assert result.xcom("report") == "total=6"
    assert {ti.try_number for ti in result.task_instances} == {1}


def test_sync_tasks_run_in_worker_threads_and_async_tasks_on_the_loop() -> None:
    """A plain def runs off the event loop thread; an async def runs on it."""
    seen: dict[str, int] = {}

    @dag()
    def threads() -> None:
        @task
        def sync_task() -> None:
            seen["sync"] = threading.get_ident()

        @task
        async def async_task() -> None:
            seen["async"] = threading.get_ident()

        sync_task() >> async_task()

    assert threads().test().state is DagRunState.SUCCESS
    assert seen["sync"] != seen["async"]


def test_context_is_injected_by_parameter_name_and_kwargs() -> None:
    """Named context parameters and **context both receive the run's context."""

    @dag(params={"day": "mon", "n": 1})
    def ctx() -> None:
        @task
        def named(ti: Any, params: dict[str, Any], run_id: str, ds: str) -> dict[str, Any]:
            return {"task": ti.task_id, "params": params, "run_id": run_id, "ds": ds}

        @task
        async def everything(**context: Any) -> list[str]:
            return sorted(context)

        named() >> everything()

    result = ctx().test(conf={"n": 2}, logical_date=datetime(2026, 3, 4, 5, 6, 7))
    named = result.xcom("named")
    assert named["task"] == "named"
    assert named["params"] == {"day": "mon", "n": 2}
    assert named["ds"] == "2026-03-04"
    assert named["run_id"] == "manual__2026-03-04T05:06:07.000000+00:00"
    required = {
        "dag",
        "dag_run",
        "run_id",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "ds",
        "ts",
        "params",
        "ti",
        "task",
        "map_index",
    }
    assert required <= set(result.xcom("everything"))


def test_get_current_context_works_in_sync_and_async_tasks() -> None:
    """get_current_context() returns the running task's context in threads and on the loop."""

    @dag()
    def current() -> None:
        @task
        def sync_side() -> str:
            return get_current_context()["ti"].task_id

        @task
        async def async_side() -> str:
            return get_current_context()["task"].task_id

        sync_side() >> async_side()

    result = current().test()
    assert result.xcom("sync_side") == "sync_side"
    assert result.xcom("async_side") == "async_side"


def test_manual_run_id_format() -> None:
    """A manual run id is manual__ plus the ISO-8601 UTC logical date with microseconds."""

    @dag()
    def ids() -> None:
        EmptyOperator(task_id="a")

    result = ids().test()
    assert re.fullmatch(r"manual__\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", result.run_id)
    assert result.logical_date.tzinfo is not None


def test_xcom_push_and_pull_between_non_adjacent_tasks() -> None:
    """ti.xcom_push in one task is read with ti.xcom_pull two tasks later, sync and async."""

    @dag()
    def pushpull() -> None:
        @task
        async def producer(ti: Any) -> None:
            await ti.xcom_push("rows", [1, 2])

        @task
        def middle(ti: Any) -> None:
            ti.xcom_push("note", "sync")

        @task
        async def consumer(ti: Any) -> dict[str, Any]:
            return {
                "rows": await ti.xcom_pull(task_ids="producer", key="rows"),
                "note": await ti.xcom_pull(task_ids="middle", key="note"),
                "both": await ti.xcom_pull(task_ids=["producer", "middle"], key="rows"),
            }

        @task
        def sync_consumer(ti: Any) -> Any:
            return ti.xcom_pull(task_ids="producer", key="rows")

        producer() >> middle() >> consumer() >> sync_consumer()

    result = pushpull().test()
    assert result.xcom("consumer") == {"rows": [1, 2], "note": "sync", "both": [[1, 2], None]}
    assert result.xcom("sync_consumer") == [1, 2]


def test_retries_until_success_count_tries() -> None:
    """A task failing twice with retries=2 succeeds on its third try."""
    calls: list[int] = []

    @dag()
    def flaky() -> None:
        @task(retries=2, retry_delay=0)
        def sometimes(ti: Any) -> int:
            calls.append(ti.try_number)
            if len(calls) < 3:
                raise ConnectionError(f"try {len(calls)} lost the connection")
            return len(calls)

        sometimes()

    result = flaky().test()
    assert calls == [1, 2, 3]
    ti = result.ti("sometimes")
    assert (ti.state, ti.try_number) == (TaskState.SUCCESS, 3)
    assert ti.error == "ConnectionError: try 2 lost the connection"


def test_out_of_retries_fails_with_a_one_line_error_and_fails_the_run() -> None:
    """The last try's error is kept as one line and the run fails."""

    @dag()
    def broken() -> None:
        @task(retries=1, retry_delay=timedelta(0))
        def boom() -> None:
            raise ValueError("bad row 7\nmore details")

        boom()

    result = broken().test()
    ti = result.ti("boom")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 2)
    assert ti.error == "ValueError: bad row 7"
    assert result.state is DagRunState.FAILED


def test_fail_task_is_not_retried() -> None:
    """FailTask fails at once even with retries left."""

    @dag()
    def fail_fast() -> None:
        @task(retries=5, retry_delay=0)
        def stop() -> None:
            raise FailTask("input is unusable")

        stop()

    ti = fail_fast().test().ti("stop")
    assert (ti.state, ti.try_number, ti.error) == (
        TaskState.FAILED,
        1,
        "FailTask: input is unusable",
    )


def test_skip_task_skips_it_and_its_all_success_downstream() -> None:
    """SkipTask marks the task skipped; all_success downstream is skipped; the run succeeds."""

    @dag()
    def skipping() -> None:
        @task
        def maybe() -> None:
            raise SkipTask("nothing to do today")

        @task
        def after() -> None:
            return None

        maybe() >> after()

    result = skipping().test()
    assert result.ti("maybe").state is TaskState.SKIPPED
    assert result.ti("after").state is TaskState.SKIPPED
    assert result.state is DagRunState.SUCCESS


def test_execution_timeout_fails_the_try_with_a_clear_error() -> None:
    """An async task over its execution_timeout fails naming the limit."""

    @dag()
    def slow() -> None:
        @task(execution_timeout=0.05)
        async def sleepy() -> None:
            import anyio

            await anyio.sleep_forever()

        sleepy()

    ti = slow().test().ti("sleepy")
    assert ti.state is TaskState.FAILED
    assert ti.error == "TimeoutError: task 'sleepy' ran longer than its execution_timeout of 0.05s"


def test_execution_timeout_applies_to_sync_tasks_without_waiting_for_the_thread() -> None:
    """A sync task over its execution_timeout fails without waiting for its thread."""
    release = threading.Event()

    @dag()
    def slow_sync() -> None:
        @task(execution_timeout=0.05)
        def blocking() -> None:
            release.wait(10)

        blocking()

    try:
        ti = slow_sync().test().ti("blocking")
    finally:
        release.set()
    assert ti.state is TaskState.FAILED
    assert "execution_timeout of 0.05s" in (ti.error or "")


def test_callbacks_sync_and_async_are_called_with_the_context() -> None:
    """on_retry, on_failure (async) and on_success callbacks each run once."""
    events: list[tuple[str, str]] = []

    def on_retry(context: dict[str, Any]) -> None:
        events.append(("retry", context["ti"].task_id))

    async def on_failure(context: dict[str, Any]) -> None:
        events.append(("failure", str(context["exception"])))

    def on_success(context: dict[str, Any]) -> None:
        events.append(("success", context["task"].task_id))

    @dag(default_args={"on_retry_callback": on_retry, "on_failure_callback": on_failure})
    def callbacks() -> None:
        @task(retries=1, retry_delay=0)
        def bad() -> None:
            raise RuntimeError("nope")

        @task(on_success_callback=on_success)
        def good() -> None:
            return None

        bad()
        good()

    callbacks().test()
    assert sorted(events) == [
        ("failure", "RuntimeError: nope"),
        ("retry", "bad"),
        ("success", "good"),
    ]


def test_a_failing_callback_does_not_change_the_outcome() -> None:
    """An exception in on_success_callback is logged; the task stays successful."""

    def broken(context: dict[str, Any]) -> None:
        raise RuntimeError("callback bug")

    @dag()
    def cb() -> None:
        EmptyOperator(task_id="a", on_success_callback=broken)

    assert cb().test().ti("a").state is TaskState.SUCCESS


def test_all_done_cleanup_runs_after_a_failure_and_the_run_follows_the_leaves() -> None:
    """all_done cleanup runs after a failed task; a failed leaf fails the run."""

    @dag()
    def cleanup() -> None:
        @task
        def work() -> None:
            raise RuntimeError("work failed")

        @task(trigger_rule="all_done")
        def tidy() -> str:
            return "tidied"

        @task
        def publish() -> None:
            return None

        w = work()
        w >> tidy()
        w >> publish()

    result = cleanup().test()
    assert result.ti("tidy").state is TaskState.SUCCESS
    assert result.ti("publish").state is TaskState.UPSTREAM_FAILED
    assert result.state is DagRunState.FAILED


def test_run_succeeds_when_only_a_non_leaf_failed_and_the_leaf_succeeded() -> None:
    """The run's state follows its leaves: an all_done leaf after a failure means success."""

    @dag()
    def tolerant() -> None:
        @task
        def work() -> None:
            raise RuntimeError("work failed")

        @task(trigger_rule="all_done")
        def tidy() -> None:
            return None

        work() >> tidy()

    assert tolerant().test().state is DagRunState.SUCCESS


def test_branch_follows_the_chosen_path_and_skips_the_other() -> None:
    """@task.branch runs the chosen task; the other is skipped; the join still runs."""

    @dag()
    def branching() -> None:
        @task.branch
        def choose() -> str:
            return "left"

        @task
        def left() -> str:
            return "L"

        @task
        def right() -> str:
            return "R"

        @task(trigger_rule="none_failed_min_one_success")
        def join() -> str:
            return "joined"

        c = choose()
        lf, rt = left(), right()
        c >> [lf, rt]
        [lf, rt] >> join()

    result = branching().test()
    assert result.ti("left").state is TaskState.SUCCESS
    assert result.ti("right").state is TaskState.SKIPPED
    assert result.ti("join").state is TaskState.SUCCESS
    assert result.state is DagRunState.SUCCESS


def test_branch_returning_an_unknown_task_fails_it() -> None:
    """A branch naming a task that is not directly downstream fails clearly."""

    @dag()
    def wrong_branch() -> None:
        @task.branch
        def choose() -> str:
            return "nowhere"

        choose() >> EmptyOperator(task_id="somewhere")

    ti = wrong_branch().test().ti("choose")
    assert ti.state is TaskState.FAILED
    assert "returned ['nowhere'], which are not its direct downstream tasks" in (ti.error or "")


def test_short_circuit_skips_everything_downstream() -> None:
    """A falsy @task.short_circuit skips all downstream tasks, whatever their trigger rules."""

    @dag()
    def circuit() -> None:
        @task.short_circuit
        def has_data() -> bool:
            return False

        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b", trigger_rule="all_done")
        has_data() >> a >> b

    result = circuit().test()
    assert result.ti("a").state is TaskState.SKIPPED
    assert result.ti("b").state is TaskState.SKIPPED


def test_short_circuit_truthy_lets_downstream_run() -> None:
    """A truthy @task.short_circuit lets downstream tasks run."""

    @dag()
    def open_circuit() -> None:
        @task.short_circuit
        def has_data() -> int:
            return 3

        has_data() >> EmptyOperator(task_id="a")

    assert open_circuit().test().ti("a").state is TaskState.SUCCESS


def test_bash_last_stdout_line_is_the_result() -> None:
    """@task.bash and BashOperator return the last line of stdout."""

    @dag()
    def shell() -> None:
        @task.bash
        def greet(name: str) -> str:
            return f"echo first; echo hello {name}; echo ignored >&2"

        BashOperator(task_id="ctx", bash_command="echo $ASYNCFLOW_CTX_TASK_ID")
        greet("world")

    result = shell().test()
    assert result.xcom("greet") == "hello world"
    assert result.xcom("ctx") == "ctx"


def test_bash_non_zero_exit_fails_and_99_skips() -> None:
    """A non-zero exit fails the task; exit 99 skips it."""
    with DAG("exits") as exits:
        BashOperator(task_id="fails", bash_command="exit 3")
        BashOperator(task_id="skips", bash_command="exit 99")
    result = exits.test()
    assert result.ti("fails").state is TaskState.FAILED
    assert "exited with code 3" in (result.ti("fails").error or "")
    assert result.ti("skips").state is TaskState.SKIPPED


def test_task_timestamps_are_aware_utc() -> None:
    """start_date and end_date of an instance are timezone-aware UTC."""

    @dag()
    def times() -> None:
        EmptyOperator(task_id="a")

    ti = times().test().ti("a")
    assert ti.start_date is not None
    assert ti.end_date is not None
    assert ti.start_date.tzinfo == UTC
    assert ti.start_date <= ti.end_date


def test_dag_test_inside_a_running_loop_says_to_use_engine_run() -> None:
    """dag.test() inside an event loop raises an error pointing to engine.run."""
    import anyio

    from asyncflow.exceptions import EngineError

    @dag()
    def nested() -> None:
        EmptyOperator(task_id="a")

    built = nested()

    async def main() -> None:
        with pytest.raises(EngineError, match=r"use `await engine.run\(dag, ...\)`"):
            built.test()

    anyio.run(main)


def test_an_xcom_value_too_large_fails_the_task_naming_size_and_setting() -> None:
    """A return value over the limit fails that task with its size and the setting; others run."""

    @dag()
    def big() -> None:
        @task
        def huge() -> str:
            return "x" * 60_000

        @task
        def small() -> int:
            return 1

        huge()
        small()

    result = big().test()
    ti = result.ti("huge")
    assert ti.state is TaskState.FAILED
    assert ti.try_number == 1
    assert ti.error == (
        "XComError: XCom value of task 'huge' (key 'return_value') is 60,002 bytes, over the "
        "limit of 49,152 bytes; return a smaller value (store large data elsewhere and pass a "
        "reference) or raise the limit with ASYNCFLOW_XCOM_MAX_BYTES"
    )
    assert result.xcom("huge") is None
    assert result.xcom("small") == 1


def test_an_xcom_value_that_cannot_be_stored_fails_without_retry() -> None:
    """A set (not JSON) fails the task at once, naming the type and where it is."""

    @dag()
    def unstorable() -> None:
        @task(retries=3, retry_delay=0)
        def rows() -> dict[str, Any]:
            return {"ids": {1, 2}}

        rows()

    ti = unstorable().test().ti("rows")
    assert (ti.state, ti.try_number) == (TaskState.FAILED, 1)
    assert ti.error is not None
    assert "task 'rows' (key 'return_value') cannot be stored: set is not JSON" in ti.error
    assert "$.ids" in ti.error


def test_xcom_keeps_datetimes_decimals_and_uuids() -> None:
    """datetime, date, Decimal and UUID values come back as they were pushed."""
    from datetime import date
    from decimal import Decimal
    from uuid import UUID

    value = {
        "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "day": date(2026, 1, 2),
        "amount": Decimal("12.3400"),
        "id": UUID("12345678-1234-5678-1234-567812345678"),
    }

    @dag()
    def typed() -> None:
        @task
        def produce() -> dict[str, Any]:
            return value

        @task
        def consume(data: dict[str, Any]) -> bool:
            return data == value

        consume(produce())

    result = typed().test()
    assert result.xcom("produce") == value
    assert result.xcom("consume") is True
