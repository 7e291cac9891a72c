"""Pattern: fan out to parallel branches, fan back in with a trigger rule.

Three branches run in parallel; one of them skips itself. ``join`` uses
``none_failed_min_one_success``, so it runs when no branch failed and at least
one succeeded (``all_success``, the default, would skip it). ``cleanup`` uses
``all_done`` and runs whatever happened upstream.
"""

from asyncflow import SkipTask, TriggerRule, dag, task


@dag(schedule=None, tags=["example"])
def fan_out_fan_in():
    @task
    def start() -> int:
        return 10

    @task
    async def double(n: int) -> int:
        return n * 2

    @task
    async def square(n: int) -> int:
        return n * n

    @task
    def optional_step(n: int) -> int:
        raise SkipTask("nothing to do today")

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def join(results: list[int | None]) -> int:
        return sum(r for r in results if r is not None)  # a skipped branch gives None

    @task(trigger_rule="all_done")
    def cleanup() -> str:
        return "cleaned up"

    n = start()
    join([double(n), square(n), optional_step(n)]) >> cleanup()


fan_out_fan_in()
