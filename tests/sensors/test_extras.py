"""`sensors` on a plain install: it imports, and a sensor whose extra is missing says which."""

from __future__ import annotations

import subprocess
import sys

from sensors._extras import EXTRAS

# Runs in a child whose imports of every extra's packages fail, as on `pip install asyncflow`.
CHILD = """\
import sys

for name in sys.argv[1:]:
    sys.modules[name] = None  # `import name` now raises ModuleNotFoundError

from asyncflow import DAG, MissingExtraError
import sensors
from sensors import DateTimeSensor, ExternalTaskSensor, FileSensor, TimeDeltaSensor

needing_extras = [
    lambda: sensors.HttpSensor(task_id="h", endpoint="jobs/1"),
    lambda: sensors.HttpOperator(task_id="o", endpoint="jobs"),
    lambda: sensors.S3KeySensor(task_id="s", bucket_key="s3://b/k"),
    lambda: sensors.GlueJobSensor(task_id="g", job_name="j", run_id="r"),
    lambda: sensors.GlueJobOperator(task_id="j", job_name="j"),
    lambda: sensors.AwsPollSensor(
        "batch", "describe_jobs", {}, "jobs[0].status", ["SUCCEEDED"], ["FAILED"], task_id="b"
    ),
]
with DAG("plain") as dag:
    FileSensor(task_id="file", filepath="/tmp/x")
    TimeDeltaSensor(task_id="later", delta=1)
    ExternalTaskSensor(task_id="other", external_dag_id="up")
    for make in needing_extras:
        try:
            make()
        except MissingExtraError as error:
            print(error)
print(sorted(dag.task_dict))
"""


def test_a_sensor_without_its_extra_fails_at_construction_naming_it() -> None:
    """Without extras `sensors` imports, and each HTTP or AWS task fails when made, in one line."""
    blocked = [name for names in EXTRAS.values() for name in names]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *blocked],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    http = "needs the http extra (httpx is not installed): pip install 'asyncflow[http]'"
    aws = "needs the aws extra (aioboto3 is not installed): pip install 'asyncflow[aws]'"
    assert done.stdout.splitlines() == [
        f"HttpSensor {http}",
        f"HttpOperator {http}",
        f"S3KeySensor {aws}",
        f"GlueJobSensor {aws}",
        f"GlueJobOperator {aws}",
        f"AwsPollSensor {aws}",
        "['file', 'later', 'other']",
    ]
