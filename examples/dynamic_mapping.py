"""Pattern: dynamic task mapping.

``.expand`` creates one task instance per value, over a literal list or over an
upstream task's result; ``.partial`` fixes the arguments shared by every
instance. A downstream task that takes a mapped result gets the list of
results in map_index order, here summed by a reduce task.
"""

from asyncflow import dag, task


@dag(schedule=None, tags=["example"])
def dynamic_mapping():
    @task
    async def add_one(x: int) -> int:
        return x + 1

    @task
    def list_files() -> list[str]:
        return ["a.csv", "bb.csv", "ccc.csv"]

    @task
    async def size_of(name: str) -> int:
        return len(name)

    @task
    def multiply(x: int, factor: int) -> int:
        return x * factor

    @task
    def total(added: list[int], sizes: list[int], multiplied: list[int]) -> int:
        return sum(added) + sum(sizes) + sum(multiplied)

    added = add_one.expand(x=[1, 2, 3])
    sizes = size_of.expand(name=list_files())
    multiplied = multiply.partial(factor=10).expand(x=[1, 2])
    total(added, sizes, multiplied)


dynamic_mapping()
