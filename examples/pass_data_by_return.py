"""Pattern: pass data from one task to the next by return value.

Calling ``transform(extract())`` passes ``extract``'s return value (its XCom)
as ``transform``'s argument and makes ``extract`` upstream of ``transform``.
"""

from asyncflow import dag, task


@dag(schedule=None, tags=["example"])
def pass_data_by_return():
    @task
    def extract() -> dict[str, int]:
        return {"apples": 3, "pears": 4}

    @task
    async def transform(counts: dict[str, int]) -> int:
        return sum(counts.values())

    @task
    def load(total: int) -> str:
        return f"loaded {total} fruits"

    load(transform(extract()))


pass_data_by_return()
