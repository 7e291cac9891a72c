"""Pattern: notifiers — a callback object that renders its message and sends it.

``BaseNotifier`` is Airflow's shape: list the templated attributes, write
``notify``. Here the message goes to a log; ``sensors.SmtpNotifier`` sends an
email and ``sensors.HttpNotifier`` posts to a webhook the same way (they need a
mail server and a webhook, so this example keeps to the log).
"""

import logging

from asyncflow import BaseNotifier, dag, task

log = logging.getLogger("examples.notifiers")


class LogNotifier(BaseNotifier):
    """Write a rendered message to a log."""

    template_fields = ("message",)

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def notify(self, context) -> None:
        """Log the rendered message."""
        log.warning(self.message)


@dag(
    schedule=None,
    tags=["example"],
    params={"rows": 3},
    on_success_callback=LogNotifier("{{ dag.dag_id }}: run {{ run_id }} succeeded"),
)
def notifiers():
    @task(on_success_callback=LogNotifier("{{ ti.task_id }} loaded {{ params.rows }} rows"))
    def load(params=None) -> int:
        return params["rows"]

    load()


notifiers()
