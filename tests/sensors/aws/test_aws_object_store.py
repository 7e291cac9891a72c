"""S3ObjectStore on moto: a 5 MB round trip, paginated batch deletes, and XCom offloading."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import anyio
import pytest
from aws_helpers import LIMIT, Moto

from asyncflow import DAG, DagRunState, Engine, task
from asyncflow.connections import resources_scope
from asyncflow.settings import Settings
from asyncflow.xcom_objects import ObjectStore
from sensors.aws.object_store import S3ObjectStore, from_url

pytestmark = pytest.mark.anyio

BUCKET = "xcom-objects"


async def make_bucket(moto: Moto) -> None:
    async with moto.client("s3") as s3:
        await s3.create_bucket(Bucket=BUCKET)


async def test_a_5_mb_value_goes_to_s3_and_comes_back_intact(moto: Moto) -> None:
    """Put then get returns the very bytes, through the engine's shared S3 client."""
    await make_bucket(moto)
    data = os.urandom(5 * 1024 * 1024)
    store: ObjectStore = S3ObjectStore()
    url = f"s3://{BUCKET}/xcom/etl/run1/extract/-1/return_value.json"
    async with resources_scope() as resources:
        with anyio.fail_after(LIMIT):
            await store.put(url, data)
            assert await store.get(url) == data
        assert resources.opened == 1
    async with moto.client("s3") as s3:
        head = await s3.head_object(Bucket=BUCKET, Key="xcom/etl/run1/extract/-1/return_value.json")
    assert head["ContentLength"] == len(data)


async def test_delete_prefix_removes_every_object_in_batches_and_nothing_else(moto: Moto) -> None:
    """250 objects under the prefix go, 100 to a delete call; neighbours stay.

    Listing pages (1,000 keys each) are the S3 sensor's listing, tested over 1,200 keys.
    """
    await make_bucket(moto)
    doomed = [f"xcom/etl/run1/t/{i}/return_value.json" for i in range(250)]
    kept = ["xcom/etl/run10/t/-1/return_value.json", "xcom/other/run1/t/-1/return_value.json"]
    moto.seed_objects(BUCKET, doomed + kept)
    store = S3ObjectStore()
    store.delete_batch = 100
    calls: list[int] = []
    async with resources_scope():
        delete = store._delete

        async def counted(s3: Any, bucket: str, keys: list[str]) -> int:
            calls.append(len(keys))
            return await delete(s3, bucket, keys)

        store._delete = counted  # type: ignore[method-assign]
        with anyio.fail_after(LIMIT):
            deleted = await store.delete_prefix(f"s3://{BUCKET}/xcom/etl/run1/")
    assert (deleted, calls) == (250, [100, 100, 50])
    async with moto.client("s3") as s3:
        left = await s3.list_objects_v2(Bucket=BUCKET)
    assert sorted(o["Key"] for o in left["Contents"]) == sorted(kept)


async def test_a_missing_object_or_bucket_is_an_xcom_error_naming_the_url(moto: Moto) -> None:
    """Get of an object that is not there raises XComError with its URL; deleting is a no-op."""
    await make_bucket(moto)
    store = S3ObjectStore()
    async with resources_scope():
        with pytest.raises(
            Exception, match=f"XCom object s3://{BUCKET}/gone.json does not exist"
        ) as raised:
            await store.get(f"s3://{BUCKET}/gone.json")
        assert type(raised.value).__name__ == "XComError"
        assert await store.delete_prefix("s3://no-such-bucket/xcom/") == 0


def test_from_url_reads_the_connection_and_region() -> None:
    """?conn_id= picks the connection (aws_default without it); region_name overrides."""
    assert from_url("s3://bucket/prefix").aws_conn_id == "aws_default"
    store = from_url("s3://bucket/prefix?conn_id=aws_xcom&region_name=eu-west-1")
    assert (store.aws_conn_id, store.region_name) == ("aws_xcom", "eu-west-1")
    with pytest.raises(ValueError, match="is not an s3://bucket/prefix URL"):
        from_url("s3:///prefix")


async def test_a_large_task_result_travels_through_s3_between_tasks(moto: Moto) -> None:
    """With ASYNCFLOW_XCOM_OBJECT_STORE on S3, a 5 MB result is kept in the bucket and read back."""
    await make_bucket(moto)
    settings = dataclasses.replace(
        Settings.from_env(),
        xcom_object_store=f"s3://{BUCKET}/xcom?conn_id=aws_default",
        xcom_object_threshold=1024,
    )
    with DAG("large_xcom") as built:

        @task
        def produce() -> str:
            return "x" * (5 * 1024 * 1024)

        @task
        def measure(value: str) -> int:
            return len(value)

        measure(produce())
    async with Engine("memory://", dags=[built], settings=settings) as engine:
        with anyio.fail_after(LIMIT):
            result = await engine.run(built.dag_id)
    assert result.state is DagRunState.SUCCESS, [
        (t.task_id, t.error) for t in result.task_instances
    ]
    assert result.xcom("measure") == 5 * 1024 * 1024
    async with moto.client("s3") as s3:
        listed: dict[str, Any] = await s3.list_objects_v2(Bucket=BUCKET)
    keys = [o["Key"] for o in listed["Contents"]]
    assert keys == [f"xcom/large_xcom/{result.run_id}/produce/-1/return_value.json"]
