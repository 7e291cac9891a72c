"""Large XCom values in object storage: offloaded, read back, and cleared with the run."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from asyncflow import DagRunState, Engine, TaskState, dag, task
from asyncflow.exceptions import MissingExtraError, XComError
from asyncflow.settings import Settings
from asyncflow.xcom_objects import MemoryObjectStore, open_objects

pytestmark = pytest.mark.anyio

BIG = "x" * 200_000


@dag()
def big_data() -> None:
    @task
    def produce() -> dict[str, Any]:
        return {"rows": BIG}

    @task
    async def consume(data: dict[str, Any], ti: Any) -> int:
        pulled = await ti.xcom_pull(task_ids="produce")
        assert pulled == data
        return len(data["rows"])

    @task
    def small() -> int:
        return 1

    consume(produce())
    small()


def settings(**overrides: Any) -> Settings:
    """Settings with memory object storage and a 1 KiB threshold."""
    return Settings.from_env(xcom_object_store="memory://", xcom_object_threshold=1024, **overrides)


async def test_a_value_over_the_threshold_goes_to_object_storage_and_comes_back() -> None:
    """The store keeps a reference; arguments, xcom_pull and the snapshot get the value."""
    async with Engine("memory://", dags=[big_data()], settings=settings()) as engine:
        with anyio.fail_after(10):
            result = await engine.run("big_data")
        stored = await engine.store.get_xcom(
            "big_data", result.run_id, "produce", "return_value", -1
        )
        objects = engine.xcom_objects
        assert objects is not None
        store = objects.store
        assert isinstance(store, MemoryObjectStore)
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("consume") == 200_000
    assert result.xcom("produce") == {"rows": BIG}
    assert stored is not None
    assert stored.value.startswith('{"__af__":"ref"')
    url = f"memory://xcom/big_data/{result.run_id}/produce/-1/return_value.json"
    assert list(store.objects) == [url]
    assert small_stays_in_the_store(result)


def small_stays_in_the_store(result: Any) -> bool:
    """A value under the threshold is an ordinary XCom."""
    return bool(result.xcom("small") == 1)


async def test_clearing_a_runs_xcom_removes_its_objects() -> None:
    """clear_xcom deletes the rows and the objects of that run only."""
    async with Engine("memory://", dags=[big_data()], settings=settings()) as engine:
        with anyio.fail_after(10):
            first = await engine.run("big_data")
            await engine.run("big_data")
        objects = engine.xcom_objects
        assert objects is not None
        store = objects.store
        assert isinstance(store, MemoryObjectStore)
        assert len(store.objects) == 2
        assert await engine.clear_xcom(first.run_id) == 3
        left = await engine.get_run(first.run_id)
    assert left.xcom("produce") is None
    assert len(store.objects) == 1
    assert first.run_id not in next(iter(store.objects))


async def test_without_object_storage_a_large_value_fails_its_task() -> None:
    """With no object store the 48 KiB limit applies as before."""
    async with Engine("memory://", dags=[big_data()]) as engine:
        with anyio.fail_after(10):
            result = await engine.run("big_data")
    assert result.ti("produce").state is TaskState.FAILED
    assert "ASYNCFLOW_XCOM_MAX_BYTES" in (result.ti("produce").error or "")


async def test_object_storage_failure_fails_the_try_and_follows_retries() -> None:
    """When the object store cannot be written the try fails and is retried."""

    class Flaky(MemoryObjectStore):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        async def put(self, url: str, data: bytes) -> None:
            self.calls += 1
            if self.calls == 1:
                raise OSError("object store unreachable")
            await super().put(url, data)

    @dag(default_args={"retries": 1, "retry_delay": 0})
    def flaky_storage() -> None:
        @task
        def produce() -> str:
            return BIG

        produce()

    async with Engine("memory://", dags=[flaky_storage()], settings=settings()) as engine:
        assert engine.xcom_objects is not None
        engine.xcom_objects.store = Flaky()
        with anyio.fail_after(10):
            result = await engine.run("flaky_storage")
    ti = result.ti("produce")
    assert (ti.state, ti.try_number) == (TaskState.SUCCESS, 2)
    assert ti.error == "OSError: object store unreachable"
    assert result.xcom("produce") == BIG


def test_unknown_object_store_scheme_is_refused() -> None:
    """An object store URL with an unknown scheme fails naming the variable."""
    with pytest.raises(XComError, match="ASYNCFLOW_XCOM_OBJECT_STORE has an unknown scheme 'ftp'"):
        open_objects("ftp://host/x", 1024)
    assert open_objects(None, 1024) is None


def test_s3_object_store_says_which_extra_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """s3:// without the AWS backend importable names the extra to install."""
    import sys

    monkeypatch.setitem(sys.modules, "sensors.aws.object_store", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'asyncflow\[aws\]'"):
        open_objects("s3://bucket/xcom", 1024)


@dag()
def mapped_big_data() -> None:
    @task
    def produce(n: int) -> str:
        return BIG[: 512 * n]  # n=1 stays in the store, n=3 goes to object storage

    @task
    def total(values: list[str]) -> list[int]:
        return [len(value) for value in values]

    total(produce.expand(n=[1, 3, 2]))


async def test_a_reducer_gets_mapped_values_from_the_store_and_object_storage_in_order() -> None:
    """A task over mapped results gets each value, stored or offloaded, in map_index order."""
    async with Engine("memory://", dags=[mapped_big_data()], settings=settings()) as engine:
        with anyio.fail_after(10):
            result = await engine.run("mapped_big_data")
    assert result.state is DagRunState.SUCCESS
    assert result.xcom("total") == [512, 1536, 1024]
