"""Pattern: a single task.

The smallest DAG: one ``@task`` whose return value becomes its XCom result.
"""

from asyncflow import dag, task


@dag(schedule=None, tags=["example"])
def single_task():
    @task
    def say_hello() -> str:
        return "hello, world"

    say_hello()


single_task()
