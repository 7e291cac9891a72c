"""Pattern: two tasks in series.

``first >> second``: the second task starts only after the first succeeded.
No data passes between them; the arrow alone is the dependency.
"""

from asyncflow import dag, task


@dag(schedule=None, tags=["example"])
def two_in_series():
    @task
    def first() -> str:
        return "first done"

    @task
    async def second() -> str:
        return "second done"

    first() >> second()


two_in_series()
