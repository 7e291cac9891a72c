"""Pattern: XCom push and pull between tasks that are not adjacent.

``ti.xcom_push`` stores a value under a key and ``ti.xcom_pull`` reads it from
any task of the run. An async task awaits them; a sync task (run in a worker
thread) calls them directly.
"""

from asyncflow import dag, task


@dag(schedule=None, tags=["example"])
def xcom_push_pull():
    @task
    async def produce(ti) -> None:
        await ti.xcom_push(key="batch_id", value="batch-42")
        await ti.xcom_push(key="rows", value=[1, 2, 3])

    @task
    def unrelated_step() -> str:
        return "some other work in between"

    @task
    async def consume_async(ti) -> str:
        batch_id = await ti.xcom_pull(task_ids="produce", key="batch_id")
        return f"async read {batch_id}"

    @task
    def consume_sync(ti) -> int:
        rows = ti.xcom_pull(task_ids="produce", key="rows")
        return sum(rows)

    produce() >> unrelated_step() >> [consume_async(), consume_sync()]


xcom_push_pull()
