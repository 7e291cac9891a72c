"""``BaseNotifier``: Airflow's notifier shape, a callback object that sends a message.

Subclass it, name the attributes to render in ``template_fields`` and define
``notify(self, context)`` (a plain ``def`` runs in a worker thread, an
``async def`` on the event loop). An instance is a callback: pass it as
``on_failure_callback=`` (or any other ``on_*_callback``) of a task or a DAG.
Each call renders the template fields with Jinja2 and the callback's context
(``{{ dag.dag_id }}``, ``{{ ti.task_id }}``, ``{{ run_id }}``, ``{{ ds }}``,
``{{ exception }}``...) into a copy of the notifier, so one instance serves many
tasks at once, and calls the copy's ``notify``.

An error in ``notify`` propagates; the engine logs it as ``callback_failed`` (or
``dag_callback_failed``) and the task's or run's outcome does not change.

Example:
    >>> from asyncflow import BaseNotifier
    >>> class Collect(BaseNotifier):
    ...     template_fields = ("message",)
    ...     def __init__(self, message: str) -> None:
    ...         super().__init__()
    ...         self.message = message
    ...         self.sent: list[str] = []
    ...     def notify(self, context):
    ...         self.sent.append(self.message)
    >>> notifier = Collect("task {{ ti.task_id }} failed")
    >>> notifier.render({"ti": type("TI", (), {"task_id": "load"})()}).message
    'task load failed'
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Self

from asyncflow.exceptions import AsyncflowError
from asyncflow.threads import call, is_async_callable

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

__all__ = ["BaseNotifier", "NotifierTemplateError", "render_value"]


class NotifierTemplateError(AsyncflowError):
    """A notifier's template field does not render (bad syntax, or an error while rendering)."""


class BaseNotifier(ABC):
    """Base class of notifiers: render ``template_fields``, then ``notify(context)``.

    Attributes:
        template_fields: Names of the attributes rendered as Jinja2 templates
            (strings, and strings inside lists, tuples and dicts) before each call.
    """

    template_fields: Sequence[str] = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"  # attributes may hold secrets (tokens, passwords)

    @abstractmethod
    def notify(self, context: Mapping[str, Any]) -> Any:
        """Send the notification; ``self``'s template fields are rendered by now.

        A plain ``def`` runs in a worker thread; an ``async def`` runs on the loop.
        """

    def render(self, context: Mapping[str, Any]) -> Self:
        """A copy of this notifier with every template field rendered with ``context``.

        Raises:
            NotifierTemplateError: one line naming the notifier, the field and the error.
        """
        # jinja2 is imported when a notifier first renders, not by every `import asyncflow`
        import jinja2

        rendered = copy.copy(self)
        for name in self.template_fields:
            try:
                value = render_value(getattr(self, name), context)
            except jinja2.TemplateError as error:
                raise NotifierTemplateError(
                    f"{type(self).__name__}: template field {name!r} does not render: "
                    f"{type(error).__name__}: {error}"
                ) from None
            setattr(rendered, name, value)
        return rendered

    async def __call__(self, context: Mapping[str, Any]) -> None:
        """Render the template fields with ``context`` and send the notification."""
        rendered = self.render(context)
        if is_async_callable(rendered.notify):
            await rendered.notify(context)
        else:
            await call(rendered.notify, context)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every string in it rendered as a Jinja2 template with ``context``.

    Lists, tuples and dicts are rendered item by item (dict keys stay as they
    are); anything else comes back unchanged.

    Raises:
        jinja2.TemplateError: a template that does not parse or render.

    Example:
        >>> render_value(["{{ ds }}", 3, {"k": "{{ ds_nodash }}"}], {"ds": "2026-01-02",
        ...     "ds_nodash": "20260102"})
        ['2026-01-02', 3, {'k': '20260102'}]
    """
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        return _environment().from_string(value).render(**context)
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    if isinstance(value, tuple):
        return tuple(render_value(item, context) for item in value)
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    return value


@cache
def _environment() -> SandboxedEnvironment:
    """Airflow renders in a sandbox: templates may read the context but not run code."""
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(keep_trailing_newline=True, autoescape=False)
