"""The optional dependencies (extras) of the sensor library, checked when a sensor is made.

``import sensors`` needs none of them: a DAG file that uses only the time,
file or external-task sensors loads on a plain ``pip install asyncflow``. A
sensor or operator that needs an extra checks for it in its constructor, so a
DAG file that uses one without the extra fails where the DAG is defined, with
one line naming the extra to install (a :class:`~asyncflow.MissingExtraError`).
"""

from __future__ import annotations

from importlib.util import find_spec

from asyncflow import MissingExtraError

EXTRAS: dict[str, tuple[str, ...]] = {
    # httpx's Request/Response for users' checks, sent on aiohttp's pool
    "http": ("httpx", "aiohttp", "multidict", "yarl"),
    # botocore's models and retries, asynchronously
    "aws": ("aioboto3", "aiobotocore", "botocore"),
}


def is_extra_module(name: str | None, extra: str) -> bool:
    """Whether ``name`` (a module, maybe dotted) belongs to one of ``extra``'s packages.

    Example:
        >>> is_extra_module("httpx._client", "http"), is_extra_module("anyio", "http")
        (True, False)
    """
    return name is not None and name.partition(".")[0] in EXTRAS[extra]


def require_extra(extra: str, what: str) -> None:
    """Fail with one line naming ``extra`` when one of its packages is not installed.

    Args:
        extra: The extra of the asyncflow distribution (``"http"``, ``"aws"``).
        what: What needs it, for the message (a class name).

    Raises:
        MissingExtraError: a package of the extra cannot be found.

    Example:
        >>> require_extra("http", "HttpSensor")  # with the http extra installed
    """
    for module in EXTRAS[extra]:
        if not _installed(module):
            raise MissingExtraError(
                f"{what} needs the {extra} extra ({module} is not installed): "
                f"pip install 'asyncflow[{extra}]'"
            )


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked import, or a module without a spec
        return False
