"""The built-in sensor library of asyncflow.

Airflow's sensors with the same names and keywords, each a coroutine on the
engine's event loop (blocking filesystem calls go to worker threads).

It also holds the notifiers that reach other systems: ``SmtpNotifier`` (email)
and ``HttpNotifier`` (a webhook), callbacks built on :class:`asyncflow.BaseNotifier`.

The package imports on a plain ``pip install asyncflow``. The HTTP sensor and
operator need the http extra (``pip install 'asyncflow[http]'``) and the AWS ones
(``sensors.aws``) the aws extra (``pip install 'asyncflow[aws]'``): without it,
constructing one raises :class:`~asyncflow.MissingExtraError` naming the extra.

Example:
    >>> from sensors import DateTimeSensor, ExternalTaskSensor, FileSensor, TimeDeltaSensor
    >>> from sensors import BashSensor, DayOfWeekSensor, TimeSensor
    >>> from sensors import HttpNotifier, HttpOperator, HttpSensor, SmtpNotifier
    >>> from sensors import GlueJobOperator, GlueJobSensor, S3KeySensor
"""

from sensors.aws import AwsPollSensor, GlueJobOperator, GlueJobSensor, S3KeySensor
from sensors.bash import BashSensor
from sensors.external import ExternalTaskSensor
from sensors.filesystem import FileSensor
from sensors.http import HttpOperator, HttpSensor
from sensors.http_notifier import HttpNotifier
from sensors.smtp import SmtpNotifier
from sensors.time import DateTimeSensor, TimeDeltaSensor, TimeSensor
from sensors.weekday import DayOfWeekSensor

__all__ = [
    "AwsPollSensor",
    "BashSensor",
    "DateTimeSensor",
    "DayOfWeekSensor",
    "ExternalTaskSensor",
    "FileSensor",
    "GlueJobOperator",
    "GlueJobSensor",
    "HttpNotifier",
    "HttpOperator",
    "HttpSensor",
    "S3KeySensor",
    "SmtpNotifier",
    "TimeDeltaSensor",
    "TimeSensor",
]
