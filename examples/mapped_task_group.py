"""Pattern: a mapped task group — the same few steps for every item of a list.

``load.expand(name=files())`` makes one instance of the whole group per file:
inside an instance, ``weigh`` gets the ``size`` of the same file; after the
group, ``total`` gets every instance's result in order.
"""

from asyncflow import dag, task, task_group


@dag(schedule=None, tags=["example"])
def mapped_task_group():
    @task
    def files() -> list[str]:
        return ["orders.csv", "refunds.csv", "fx.csv"]

    @task_group
    def load(name: str, factor: int):
        @task
        def size(name: str) -> int:
            return len(name)

        @task
        def weigh(size: int, factor: int) -> int:
            return size * factor

        return weigh(size(name), factor)

    @task
    def total(weights: list[int]) -> int:
        return sum(weights)

    total(load.partial(factor=2).expand(name=files()))


mapped_task_group()
