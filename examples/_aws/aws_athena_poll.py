"""AwsPollSensor on Athena: start a query, poll its state, then use its result location.

Any AWS "start a job, poll its status" API works the same way (Step Functions'
``describe_execution``, EMR, Batch, SageMaker...): name the status operation,
where the status is in its response, and which values end the wait. Here
``start_query`` starts the query through the engine's shared Athena client;
``query_done`` polls ``get_query_execution`` until ``SUCCEEDED`` (its value is
the result's S3 location) or fails on ``FAILED``/``CANCELLED`` with Athena's
reason.

Run it against moto::

    moto_server -H 127.0.0.1 -p 5000
    export ASYNCFLOW_CONN_AWS_DEFAULT='aws://testing:testing@/?region_name=us-east-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A5000'
    asyncflow dags test aws_athena_poll --dags-folder examples/_aws
"""

from __future__ import annotations

from typing import Any

from asyncflow import dag, task
from sensors import AwsPollSensor
from sensors.aws.client import aws_service


@dag(schedule=None, params={"output": "s3://asyncflow-demo/athena/"}, tags=["aws"])
def aws_athena_poll() -> None:
    """Run an Athena query and wait for it with the generic AWS poll sensor."""

    @task
    async def start_query(params: dict[str, Any], ds: str) -> str:
        athena = await aws_service("aws_default", "athena")
        started = await athena.call(
            "start_query_execution",
            QueryString=f"SELECT count(*) FROM orders WHERE day = DATE '{ds}'",
            ResultConfiguration={"OutputLocation": params["output"]},
        )
        return str(started["QueryExecutionId"])

    query_done = AwsPollSensor(
        "athena",
        "get_query_execution",
        {"QueryExecutionId": start_query()},
        status_path="QueryExecution.Status.State",
        success_values=["SUCCEEDED"],
        failure_values=["FAILED", "CANCELLED"],
        running_values=["QUEUED", "RUNNING"],
        message_path="QueryExecution.Status.StateChangeReason",
        result_path="QueryExecution.ResultConfiguration.OutputLocation",
        task_id="query_done",
        poke_interval=5,
        timeout=3600,
    )

    @task
    def report(ti: Any) -> str:
        return f"query results are at {ti.xcom_pull(task_ids='query_done')}"

    query_done >> report()


aws_athena_poll()
