"""The built-in sensor library of asyncflow.

Airflow's sensors with the same names and keywords, each a coroutine on the
engine's event loop.

Example:
    >>> from sensors import DateTimeSensor, TimeDeltaSensor
"""

from sensors.time import DateTimeSensor, TimeDeltaSensor

__all__ = [
    "DateTimeSensor",
    "TimeDeltaSensor",
]
