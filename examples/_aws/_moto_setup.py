"""Set the scene for the AWS examples on a local moto server (or any test account).

Creates the bucket ``asyncflow-demo`` with today's ``incoming/<ds>/orders.csv``
and the Glue job ``nightly-etl``, through the connection ``aws_default``::

    moto_server -H 127.0.0.1 -p 5000
    export ASYNCFLOW_CONN_AWS_DEFAULT='aws://testing:testing@/?region_name=us-east-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A5000'
    python examples/_aws/_moto_setup.py

The file starts with ``_``, so the DAG loader does not take it for a DAG file.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

BUCKET = "asyncflow-demo"
GLUE_JOB = "nightly-etl"
ORDERS = "order_id,amount\n1,19.99\n2,5.00\n3,42.50\n"


def client(service: str) -> Any:
    """A boto3 client made from ASYNCFLOW_CONN_AWS_DEFAULT."""
    import boto3

    from asyncflow.connections import get_connection
    from sensors.aws.client import aws_options

    options = aws_options(get_connection("aws_default"))
    return boto3.client(
        service,
        region_name=options.region_name,
        endpoint_url=options.endpoint_url,
        aws_access_key_id=options.access_key_id,
        aws_secret_access_key=options.secret_access_key,
    )


def prepare(ds: str | None = None) -> None:
    """Create the demo bucket, the day's orders file and the Glue job (idempotent)."""
    ds = ds or datetime.now(UTC).strftime("%Y-%m-%d")
    s3 = client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"incoming/{ds}/orders.csv", Body=ORDERS.encode())
    glue = client("glue")
    if GLUE_JOB not in glue.list_jobs().get("JobNames", []):
        glue.create_job(
            Name=GLUE_JOB,
            Role="arn:aws:iam::123456789012:role/glue",
            Command={"Name": "glueetl", "ScriptLocation": f"s3://{BUCKET}/code/etl.py"},
        )


if __name__ == "__main__":
    prepare(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"ready: s3://{BUCKET}/incoming/, Glue job {GLUE_JOB!r}")
