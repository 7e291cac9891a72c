"""An S3 file arriving and being processed: wait for the day's file, then read it.

``landed`` waits in reschedule mode for ``s3://<bucket>/incoming/<ds>/orders.csv``
(its key built by ``todays_key`` from the run's date) and checks it is not
empty; its value is the file's metadata. ``process`` reads the file through the
engine's shared S3 client (the same one the sensor used) and writes a summary
next to it.

Run it against moto::

    moto_server -H 127.0.0.1 -p 5000
    export ASYNCFLOW_CONN_AWS_DEFAULT='aws://testing:testing@/?region_name=us-east-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A5000'
    python examples/_aws/_moto_setup.py     # the bucket, and today's file "arriving"
    asyncflow dags test aws_s3_file_arrives --dags-folder examples/_aws
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from asyncflow import dag, task
from sensors import S3KeySensor
from sensors.aws.client import aws_service


@dag(schedule="@daily", catchup=False, params={"bucket": "asyncflow-demo"}, tags=["aws"])
def aws_s3_file_arrives() -> None:
    """Wait for the day's orders file in S3, then total it."""

    @task
    def todays_key(params: dict[str, Any], ds: str) -> str:
        return f"s3://{params['bucket']}/incoming/{ds}/orders.csv"

    landed = S3KeySensor(
        todays_key(),
        task_id="landed",
        check_fn=lambda files: all(f["Size"] > 0 for f in files),
        mode="reschedule",
        poke_interval=60,
        timeout=12 * 3600,
    )

    @task
    async def process(params: dict[str, Any], ds: str, ti: Any) -> dict[str, Any]:
        """Total the orders and write the summary beside them."""
        [found] = await ti.xcom_pull(task_ids="landed")
        s3 = await aws_service("aws_default", "s3")
        response = await s3.call("get_object", Bucket=params["bucket"], Key=found["Key"])
        async with response["Body"] as body:
            text = (await body.read()).decode()
        rows = list(csv.DictReader(io.StringIO(text)))
        summary = {"orders": len(rows), "total": str(sum(Decimal(r["amount"]) for r in rows))}
        await s3.call(
            "put_object",
            Bucket=params["bucket"],
            Key=f"processed/{ds}/summary.json",
            Body=json.dumps(summary).encode(),
        )
        return summary

    landed >> process()


aws_s3_file_arrives()
