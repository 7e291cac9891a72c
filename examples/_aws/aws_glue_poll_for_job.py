"""Poll for an AWS Glue job: start a run, wait in reschedule mode, branch on how it ended.

``submit`` starts a run of the Glue job ``nightly-etl`` and returns its JobRunId
at once (``wait_for_completion=False``). ``finished`` polls the run in
reschedule mode: between polls it holds no slot and no coroutine, only a row in
the store, so a restarted engine resumes the same run. On ``SUCCEEDED`` its
value is the run (``ExecutionTime``, ``DPUSeconds``...); on ``FAILED``,
``ERROR``, ``STOPPED``, ``TIMEOUT`` or ``EXPIRED`` it fails with Glue's
``ErrorMessage``. ``on_outcome`` runs either way (``all_done``) and follows
``publish`` or ``alert``.

Run it against moto (its Glue runs always succeed)::

    moto_server -H 127.0.0.1 -p 5000
    export ASYNCFLOW_CONN_AWS_DEFAULT='aws://testing:testing@/?region_name=us-east-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A5000'
    python examples/_aws/_moto_setup.py
    asyncflow dags test aws_glue_poll_for_job --dags-folder examples/_aws

The folder starts with ``_`` so that the examples runs that need no AWS
(``scripts/run-examples``, tests/integration/test_examples.py) skip it;
tests/sensors/aws/test_aws_examples.py runs it on moto.
"""

from __future__ import annotations

from typing import Any

from asyncflow import TriggerRule, dag, task
from sensors import GlueJobOperator, GlueJobSensor


@dag(schedule=None, tags=["aws", "sensors"])
def aws_glue_poll_for_job() -> None:
    """Start the nightly Glue job, wait for its run, then publish or alert."""

    @task
    def day(ds: str) -> str:
        return ds

    submit = GlueJobOperator(
        task_id="submit",
        job_name="nightly-etl",
        script_args={"--day": day()},
        wait_for_completion=False,
    )
    finished = GlueJobSensor(
        "nightly-etl",
        submit,  # the run id that submit returned
        task_id="finished",
        mode="reschedule",
        poke_interval=30,
        timeout=6 * 3600,
        verbose=True,
    )

    @task.branch(trigger_rule=TriggerRule.ALL_DONE)
    def on_outcome(ti: Any) -> str:
        """Follow publish when the run succeeded (the sensor then has a value), else alert."""
        return "publish" if ti.xcom_pull(task_ids="finished") else "alert"

    @task
    def publish(ti: Any) -> str:
        run = ti.xcom_pull(task_ids="finished")
        return f"published the output of {run['Id']} ({run['JobRunState']})"

    @task
    def alert(ti: Any) -> str:
        return f"Glue run {ti.xcom_pull(task_ids='submit')} did not succeed: see task 'finished'"

    finished >> on_outcome() >> [publish(), alert()]


aws_glue_poll_for_job()
