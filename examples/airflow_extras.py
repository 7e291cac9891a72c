"""Pattern: Airflow's extras — LatestOnlyOperator, labelled edges, WeekDay and three sensors.

``LatestOnlyOperator`` lets what follows run only in the latest scheduled run
(a manual run, as here, skips nothing); ``Label`` names an edge; ``BashSensor``
waits for a command to exit 0, ``TimeSensor`` for a time of day, and
``DayOfWeekSensor`` for a day of the week (here any day, so nothing waits).
"""

from datetime import time

from asyncflow import DAG, EmptyOperator, Label, LatestOnlyOperator, WeekDay, task
from sensors import BashSensor, DayOfWeekSensor, TimeSensor

with DAG("airflow_extras", schedule=None, tags=["example"]) as airflow_extras:
    latest_only = LatestOnlyOperator(task_id="latest_only")
    ready = BashSensor(task_id="ready", bash_command="test -d /", poke_interval=0.1)
    after_midnight = TimeSensor(task_id="after_midnight", target_time=time(0), poke_interval=0.1)
    any_day = DayOfWeekSensor(task_id="any_day", week_day=set(WeekDay), poke_interval=0.1)

    @task
    def publish() -> str:
        return "published"

    waits = [ready, after_midnight, any_day]
    latest_only >> Label("latest run only") >> waits
    waits >> Label("all waits over") >> publish() >> EmptyOperator(task_id="done")
