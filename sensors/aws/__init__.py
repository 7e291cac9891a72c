"""AWS sensors and operators: S3 keys, Glue job runs, and any AWS status API.

Each uses the running engine's one client per connection, service and region
(:mod:`sensors.aws.client`), made on first use and closed with the engine. They
need the aws extra (``pip install 'asyncflow[aws]'``): without it, constructing
one raises :class:`~asyncflow.MissingExtraError` naming it. The extra is imported
only when a task first calls AWS, so defining a DAG stays fast.

Example:
    >>> from sensors.aws import AwsPollSensor, GlueJobOperator, GlueJobSensor, S3KeySensor
"""

from sensors.aws.errors import (
    AwsAccessDenied,
    AwsConfigError,
    AwsError,
    AwsNotFound,
    AwsTransient,
)
from sensors.aws.glue import GLUE_JOB_RUN, GlueJobOperator, GlueJobRunFailed, GlueJobSensor
from sensors.aws.poll import AwsPollSensor, StatusRule, Verdict
from sensors.aws.s3 import S3KeySensor

__all__ = [
    "GLUE_JOB_RUN",
    "AwsAccessDenied",
    "AwsConfigError",
    "AwsError",
    "AwsNotFound",
    "AwsPollSensor",
    "AwsTransient",
    "GlueJobOperator",
    "GlueJobRunFailed",
    "GlueJobSensor",
    "S3KeySensor",
    "StatusRule",
    "Verdict",
]
