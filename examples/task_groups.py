"""Pattern: task groups, Airflow's way of boxing steps under one name.

``extract`` is a ``with TaskGroup(...)`` block: its tasks are ``extract.orders``
and ``extract.customers``, and ``extract >> transform(...)`` makes the group's
last tasks run first. ``transform`` is a ``@task_group`` function called once
per table: each call is its own group (``transform``, ``transform__1``), its
tasks retry once from the group's ``default_args``, and what it returns (its
last task's result) passes on to ``report``.
"""

from asyncflow import TaskGroup, dag, task, task_group


@dag(schedule=None, tags=["example"])
def task_groups():
    @task
    def start() -> str:
        return "2026-01-01"

    day = start()
    with TaskGroup("extract") as extract:

        @task
        def orders(day: str) -> int:
            return 120

        @task
        def customers(day: str) -> int:
            return 30

        counts = [orders(day), customers(day)]

    @task_group(default_args={"retries": 1, "retry_delay": 0})
    def transform(rows: int) -> int:
        @task
        def clean(n: int) -> int:
            return n - 1

        @task
        def enrich(n: int) -> int:
            return n * 2

        return enrich(clean(rows))

    @task
    def report(totals: list[int]) -> str:
        return f"{sum(totals)} rows ready"

    transformed = [transform(count) for count in counts]
    extract >> transformed[0]
    report(transformed)


task_groups()
