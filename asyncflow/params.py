"""``Param``: a run parameter with a default and a JSON Schema, as Airflow has it.

A DAG's ``params`` may hold plain values or :class:`Param` s. A Param's default
is checked against its schema when the DAG is defined; a run's ``conf`` is
checked when the run is triggered, so a bad value is one clear error then,
never a task failing later. Inside a task, ``params`` holds plain values.

Example:
    >>> from asyncflow import DAG, Param
    >>> with DAG("report", params={"days": Param(7, type="integer", minimum=1)}) as report:
    ...     pass
    >>> report.params["days"].value
    7
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asyncflow.exceptions import DagDefinitionError, ParamValidationError


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()
"""The default of a :class:`Param` that has none: the run's conf must give it."""


class Param:
    """A run parameter: a default value, a description and a JSON Schema for it.

    Args:
        default: The value when the run's conf does not give one (none: required).
        description: Shown with the parameter.
        **schema: JSON Schema keywords for the value (``type``, ``minimum``,
            ``enum``, ``pattern``...), as in Airflow.

    Example:
        >>> Param("eu", type="string", enum=["eu", "us"]).value
        'eu'
    """

    def __init__(self, default: Any = NOTSET, description: str | None = None, **schema: Any):
        self.value = default
        self.description = description
        self.schema = schema
        if not schema:
            return  # the empty schema allows any value: no need to load jsonschema
        # imported when a schema is first checked: it is a sixth of `import asyncflow`,
        # paid by every command and DAG file, most of which have no Param schema
        import jsonschema

        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as error:
            raise DagDefinitionError(f"Param schema is not valid: {error.message}") from None

    def __repr__(self) -> str:
        return f"Param({self.value!r}, {self.schema!r})"

    @property
    def has_value(self) -> bool:
        """Whether the parameter has a default."""
        return self.value is not NOTSET

    def resolve(self, value: Any, *, name: str, where: str) -> Any:
        """``value`` (or the default) checked against the schema.

        Raises:
            ParamValidationError: missing, or not valid, naming the parameter.
        """
        if value is NOTSET:
            value = self.value
        if value is NOTSET:
            raise ParamValidationError(f"{where}: param {name!r} is required and has no default")
        if not self.schema:
            return value
        import jsonschema

        try:
            jsonschema.validate(value, self.schema)
        except jsonschema.ValidationError as error:
            raise ParamValidationError(
                f"{where}: param {name!r} is not valid: {error.message}"
            ) from None
        return value


def resolve_params(
    params: Mapping[str, Any], conf: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """The params a run sees: each checked and set from ``conf``, plus conf's other keys.

    Raises:
        ParamValidationError: a required param missing, or a value not valid.
    """
    resolved = {
        name: param.resolve(conf.get(name, NOTSET), name=name, where=where)
        if isinstance(param, Param)
        else conf.get(name, param)
        for name, param in params.items()
    }
    return resolved | {key: value for key, value in conf.items() if key not in params}


def param_values(params: Mapping[str, Any], conf: Mapping[str, Any]) -> dict[str, Any]:
    """The params a task sees, without checking (the run's conf was checked when triggered)."""
    values = {
        name: param.value if isinstance(param, Param) else param for name, param in params.items()
    }
    return values | dict(conf)


def check_defaults(params: Mapping[str, Any], where: str, *, scheduled: bool) -> None:
    """Check each Param's default against its schema; a scheduled DAG needs every default.

    Raises:
        DagDefinitionError: a default that is not valid, or a required param on a
            DAG with a schedule (its runs have no conf to give it).
    """
    for name, param in params.items():
        if not isinstance(param, Param):
            continue
        if not param.has_value:
            if scheduled:
                raise DagDefinitionError(
                    f"{where}: param {name!r} has no default, so the DAG cannot have a "
                    "schedule (scheduled runs have no conf to give it); give it a default"
                )
            continue
        try:
            param.resolve(NOTSET, name=name, where=where)
        except ParamValidationError as error:
            raise DagDefinitionError(f"{error} (its default)") from None
