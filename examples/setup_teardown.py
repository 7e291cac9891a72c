"""Pattern: setup and teardown — a resource made, used by the work, and always removed.

``@setup`` makes the scratch table, ``@teardown`` drops it; ``with
drop(create()):`` puts every task made in the block between the two. The
teardown runs once the work has finished, even if it failed, and a teardown's
own failure does not fail the run.
"""

from asyncflow import dag, setup, task, teardown


@dag(schedule=None, tags=["example"])
def setup_teardown():
    @setup
    def create_table() -> str:
        return "scratch_orders"

    @task
    def load(table: str) -> int:
        return 3  # rows written to the table

    @task
    def report(rows: int) -> str:
        return f"{rows} rows"

    @teardown
    def drop_table(table: str) -> str:
        return f"dropped {table}"

    table = create_table()
    with drop_table(table):
        report(load(table))


setup_teardown()
