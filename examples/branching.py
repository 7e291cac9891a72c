"""Pattern: branching.

A ``@task.branch`` returns the task id to follow; the other direct downstream
task is skipped. The join uses ``none_failed_min_one_success`` so that it runs
after whichever path was taken.
"""

from asyncflow import TriggerRule, dag, task


@dag(schedule=None, params={"amount": 250}, tags=["example"])
def branching():
    @task.branch
    def choose_path(params) -> str:
        return "big_order" if params["amount"] >= 100 else "small_order"

    @task
    def big_order() -> str:
        return "shipped by truck"

    @task
    def small_order() -> str:
        return "shipped by post"

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def notify() -> str:
        return "customer notified"

    choose_path() >> [big_order(), small_order()] >> notify()


branching()
