"""Pattern: isolated Python — a task's function run by another interpreter or in a virtualenv.

``@task.external_python`` runs the function with a given interpreter (here the
engine's own, standing in for a pinned one); ``@task.virtualenv`` runs it in an
environment built for its ``requirements`` and cached for later runs. The
function's source crosses to the child; arguments and results cross as JSON.
"""

import sys

from asyncflow import dag, task


@dag(schedule=None, tags=["example"])
def isolated_python():
    @task.external_python(python=sys.executable)
    def extract() -> list[dict]:
        return [{"city": "Oslo", "temp": 4}, {"city": "Lima", "temp": 19}]

    @task.virtualenv(requirements=[], system_site_packages=True)
    def warmest(rows: list[dict]) -> str:
        import operator  # imports go inside the function: it runs in another interpreter

        return max(rows, key=operator.itemgetter("temp"))["city"]

    warmest(extract())


isolated_python()
