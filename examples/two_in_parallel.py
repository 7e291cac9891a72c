"""Pattern: two tasks in parallel.

Two tasks with no dependency between them run at the same time; here both are
async and wait on the event loop, so neither holds a thread while it sleeps.
"""

import asyncio

from asyncflow import dag, task


@dag(schedule=None, tags=["example"])
def two_in_parallel():
    @task
    async def left() -> str:
        await asyncio.sleep(0.2)
        return "left"

    @task
    async def right() -> str:
        await asyncio.sleep(0.2)
        return "right"

    left()
    right()


two_in_parallel()
