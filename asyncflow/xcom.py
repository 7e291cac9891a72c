"""The XCom codec: task results as compact JSON text, never pickle.

A value is stored as JSON. The JSON types (``None``, ``bool``, ``int``, finite
``float``, ``str``, ``list``, and ``dict`` with ``str`` keys) map to themselves;
a ``tuple`` is stored as a list and comes back as a ``list``, as in Airflow.
A few more types are written as tagged objects and come back as they went in:

=============  ===================================================================
``datetime``   ``{"__af__":"datetime","v":"2024-03-31T02:30:00+02:00"}``; naive stays
               naive, a fixed offset is kept and a ``zoneinfo`` zone is kept by name
               (``"tz":"Europe/Berlin"``)
``date``       ``{"__af__":"date","v":"2024-02-29"}``
``time``       ``{"__af__":"time","v":"12:30:00+02:00"}``
``timedelta``  ``{"__af__":"timedelta","v":[days,seconds,microseconds]}``
``Decimal``    ``{"__af__":"decimal","v":"1.10"}`` (every digit is kept)
``UUID``       ``{"__af__":"uuid","v":"…"}``
``ObjectRef``  ``{"__af__":"ref","v":"s3://…","size":1234}`` (a value kept in object storage)
=============  ===================================================================

A user dict that itself has the key ``"__af__"`` is escaped as
``{"__af__":"dict","v":[[key,value],...]}`` so that it cannot be mistaken for a
tagged value. Anything else (``set``, ``bytes``, arbitrary objects, ``nan`` and
infinities, dict keys that are not ``str``) is rejected with the JSON path of the
first offending element.

Plain values cost about one ``json`` call (measured within ~15% of
``json.dumps``): the extra types go through json's ``default`` hook, never a
walk of the whole value. What json cannot check, dict keys it would turn into
strings (``{1: "a"}`` would come back as ``{"1": "a"}``) and user dicts holding
the tag key, is found by a C-speed search of the output text for keys that look
like a converted number, ``true``, ``false``, ``null`` or the tag; only then is
the value walked, to tell a real str key such as ``"2024"`` from a converted one.
The error path alone walks the value to find the offending element.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

from asyncflow.exceptions import XComError

__all__ = ["DEFAULT_MAX_BYTES", "ObjectRef", "decode", "encode", "encode_checked"]

DEFAULT_MAX_BYTES: Final = 48 * 1024
"""The default limit on the UTF-8 size of one encoded XCom value (48 KiB)."""

_TAG: Final = "__af__"
_TAG_IN_TEXT: Final = '"__af__"'
_TAG_KEY_IN_TEXT: Final = '"__af__":'
# How json writes the dict keys it converts silently (int, float, bool, None); the
# lookahead makes the search skip most quotes at once (2x faster than without).
_CONVERTED_KEY: Final = re.compile(r'"(?=[-\dtfn])(?:-?\d[\d.e+-]*|true|false|null)":')
_ACCEPTED: Final = "return JSON types, datetime, date, time, timedelta, Decimal or UUID"
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_INT_BITS_SURELY_PRINTABLE: Final = 2000  # ~600 digits, under any digit limit (min 640)
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _Problem(Exception):
    """Internal: why a value cannot be encoded, and where in it."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(f"{reason} (at {path})")
        self.reason = reason
        self.path = path


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Where an XCom value too large for the store is kept (see asyncflow.xcom_objects)."""

    url: str
    size: int


def _tag_default(obj: object) -> dict[str, object]:
    """Json's ``default`` hook: tag the extra types, refuse the rest."""
    if isinstance(obj, ObjectRef):
        return {_TAG: "ref", "v": obj.url, "size": obj.size}
    # datetime before date: a datetime is a date.
    if isinstance(obj, datetime):
        tagged: dict[str, object] = {_TAG: "datetime", "v": obj.isoformat()}
        if isinstance(obj.tzinfo, ZoneInfo) and obj.tzinfo.key:
            tagged["tz"] = obj.tzinfo.key
        return tagged
    if isinstance(obj, date):
        return {_TAG: "date", "v": obj.isoformat()}
    if isinstance(obj, time):
        return {_TAG: "time", "v": obj.isoformat()}
    if isinstance(obj, timedelta):
        return {_TAG: "timedelta", "v": [obj.days, obj.seconds, obj.microseconds]}
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"Decimal {obj} is not finite")
        return {_TAG: "decimal", "v": str(obj)}
    if isinstance(obj, UUID):
        return {_TAG: "uuid", "v": str(obj)}
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_tag_default
)
# Only used when the text holds a lone surrogate, which has no UTF-8 form unescaped.
_ASCII_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, separators=(",", ":"), default=_tag_default
)


def _needs_escape(obj: object) -> bool:
    """Walk the containers: True if a dict has the tag key; TypeError on a non-str key.

    Called only after json encoded ``obj``, so it holds no cycles. It scans the
    whole value, so that a tag key found early does not hide a bad key later.
    """
    if isinstance(obj, dict):
        if not all(isinstance(key, str) for key in obj):
            raise TypeError("dict key is not str")
        found = _TAG in obj
        children: Any = obj.values()
    elif isinstance(obj, list | tuple):
        found, children = False, obj
    else:
        return False
    for child in children:
        if type(child) not in _SCALARS:
            found = _needs_escape(child) or found
    return found


def _escape(obj: object) -> object:
    """Copy ``obj`` with every dict that has the tag key wrapped as a tagged pair list."""
    if isinstance(obj, dict):
        if _TAG in obj:
            return {_TAG: "dict", "v": [[key, _escape(item)] for key, item in obj.items()]}
        return {key: _escape(item) for key, item in obj.items()}
    if isinstance(obj, list | tuple):
        return [_escape(item) for item in obj]
    return obj


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _leaf_problem(obj: object, path: str) -> _Problem | None:
    """What is wrong with a value that is not a container, if anything."""
    if isinstance(obj, int) and obj.bit_length() > _INT_BITS_SURELY_PRINTABLE:
        try:
            int.__repr__(obj)
        except ValueError:  # over sys.get_int_max_str_digits(), 4300 by default
            return _Problem("int has too many digits to write", path)
    if obj is None or isinstance(obj, str | int | date | time | timedelta | UUID):
        return None  # bool is an int, datetime is a date
    if isinstance(obj, float):
        return None if math.isfinite(obj) else _Problem(f"float {obj!r} is not finite", path)
    if isinstance(obj, Decimal):
        return None if obj.is_finite() else _Problem(f"Decimal {obj} is not finite", path)
    return _Problem(f"{type(obj).__name__} is not JSON-serialisable", path)


def _locate(obj: object, path: str, active: set[int]) -> _Problem | None:
    """Find the first element json cannot take, depth first in JSON order (error path only)."""
    if not isinstance(obj, dict | list | tuple):
        return _leaf_problem(obj, path)
    if id(obj) in active:
        return _Problem("circular reference", path)
    active.add(id(obj))
    try:
        if isinstance(obj, dict):
            for key, item in obj.items():
                if not isinstance(key, str):
                    return _Problem(f"dict key {key!r} is {type(key).__name__}, not str", path)
                if found := _locate(item, _child_path(path, key), active):
                    return found
        else:
            for index, item in enumerate(obj):
                if found := _locate(item, _child_path(path, index), active):
                    return found
    finally:
        active.discard(id(obj))
    return None


def _encode_sized(value: object) -> tuple[str, int]:
    """Encode ``value``; return the text and its UTF-8 size in bytes, or raise ``_Problem``."""
    try:
        # the commonest values (a mapped sensor's None or a count) skip the encoder
        if value is None:
            return "null", 4
        if type(value) is int:
            text = int.__repr__(value)  # as the encoder writes it (bool is not int here)
            return text, len(text)
        text = _ENCODER.encode(value)
        # C-speed searches of the text; a match may be a false alarm (a real str key
        # "2024", our own tagged values), which the walk settles.
        suspicious = _TAG_KEY_IN_TEXT in text or _CONVERTED_KEY.search(text) is not None
        if suspicious and _needs_escape(value):
            value = _escape(value)
            text = _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        problem = _locate(value, "$", set()) if not isinstance(exc, RecursionError) else None
        if problem is None:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            problem = _Problem(detail, "$")
        raise problem from exc
    if text.isascii():  # O(1) in CPython: the size is the length
        return text, len(text)
    try:
        return text, len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: keep it as a \udXXX escape
        text = _ASCII_ENCODER.encode(value)
        return text, len(text)


def encode(value: object) -> str:
    """Encode a value as compact JSON text (see the module docstring for the types).

    Args:
        value: JSON types, tuples (stored as lists), ``datetime``, ``date``,
            ``time``, ``timedelta``, ``Decimal`` or ``UUID``, nested freely.

    Returns:
        The JSON text; :func:`decode` turns it back into an equal value.

    Raises:
        XComError: ``value`` holds something that cannot be stored; the message
            names its type and its JSON path, e.g. ``set is not
            JSON-serialisable (at $.rows[2])``.

    Example:
        >>> encode({"n": 1, "when": date(2024, 2, 29)})
        '{"n":1,"when":{"__af__":"date","v":"2024-02-29"}}'
    """
    try:
        return _encode_sized(value)[0]
    except _Problem as problem:
        raise XComError(f"{problem}; {_ACCEPTED}") from problem.__cause__


def encode_checked(value: object, *, where: str | Callable[[], str], max_bytes: int) -> str:
    """Encode an XCom value and enforce the size limit, with errors that name the task.

    Args:
        value: The value to store (see :func:`encode`).
        where: What the value is, for the message, e.g.
            ``"task 'extract' (key 'return_value')"``, or a function making it
            (called only for an error: a push that succeeds never builds it).
        max_bytes: The largest allowed UTF-8 size of the encoded text; a value
            of exactly this size is accepted.

    Returns:
        The JSON text.

    Raises:
        XComError: One line, either ``XCom value of <where> cannot be stored:
            <type> is not JSON-serialisable (at <path>); return JSON types, ...``
            or ``XCom value of <where> is 61,440 bytes, over the limit of 49,152
            bytes; ... or raise the limit with ASYNCFLOW_XCOM_MAX_BYTES``.

    Example:
        >>> encode_checked([1, 2], where="task 'sum' (key 'return_value')", max_bytes=1024)
        '[1,2]'
    """
    try:
        text, size = _encode_sized(value)
    except _Problem as problem:
        where = where if isinstance(where, str) else where()
        raise XComError(
            f"XCom value of {where} cannot be stored: {problem}; {_ACCEPTED}"
        ) from problem.__cause__
    if size > max_bytes:
        where = where if isinstance(where, str) else where()
        raise XComError(
            f"XCom value of {where} is {size:,} bytes, over the limit of {max_bytes:,} bytes;"
            " return a smaller value (store large data elsewhere and pass a reference)"
            " or raise the limit with ASYNCFLOW_XCOM_MAX_BYTES"
        )
    return text


def _revive_datetime(tagged: dict[str, Any]) -> datetime:
    moment = datetime.fromisoformat(tagged["v"])
    zone = tagged.get("tz")
    if zone is None:
        return moment
    # Keep the wall-clock fields as written, even for a time in a DST gap; the
    # offset tells which of two repeated wall times it was (the fold).
    zoned = moment.replace(tzinfo=ZoneInfo(zone), fold=0)
    if zoned.utcoffset() != moment.utcoffset():
        zoned = zoned.replace(fold=1)
    return zoned


def _revive_timedelta(tagged: dict[str, Any]) -> timedelta:
    days, seconds, microseconds = tagged["v"]
    return timedelta(days=days, seconds=seconds, microseconds=microseconds)


_REVIVERS: Final[dict[str, Any]] = {
    "datetime": _revive_datetime,
    "date": lambda tagged: date.fromisoformat(tagged["v"]),
    "time": lambda tagged: time.fromisoformat(tagged["v"]),
    "timedelta": _revive_timedelta,
    "decimal": lambda tagged: Decimal(tagged["v"]),
    "uuid": lambda tagged: UUID(tagged["v"]),
    "dict": lambda tagged: dict(tagged["v"]),
    "ref": lambda tagged: ObjectRef(str(tagged["v"]), int(tagged["size"])),
}


def _revive(obj: dict[str, Any]) -> object:
    """Json's ``object_hook``: turn a tagged object back into its value."""
    if _TAG not in obj:
        return obj
    tag = obj[_TAG]
    reviver = _REVIVERS.get(tag) if isinstance(tag, str) else None
    if reviver is None:
        raise XComError(f"stored XCom has an unknown tag {tag!r}")
    try:
        return reviver(obj)
    except (KeyError, TypeError, ValueError) as exc:
        raise XComError(f"stored XCom has a malformed {tag} value: {obj!r}") from exc


_TAGGED_DECODER: Final = json.JSONDecoder(object_hook=_revive)


def decode(text: str) -> Any:
    """Decode text made by :func:`encode` back into the value.

    Args:
        text: JSON text from :func:`encode` or :func:`encode_checked`.

    Returns:
        A value equal to the one encoded, except that tuples come back as lists.
        ``Decimal`` keeps every digit; a ``datetime`` keeps its naive-ness, its
        offset, and its ``zoneinfo`` zone.

    Raises:
        XComError: ``text`` is not JSON made by this codec.

    Example:
        >>> decode('{"n":1,"when":{"__af__":"date","v":"2024-02-29"}}')
        {'n': 1, 'when': datetime.date(2024, 2, 29)}
    """
    try:
        if _TAG_IN_TEXT not in text:
            return json.loads(text)
        return _TAGGED_DECODER.decode(text)
    except XComError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:
        raise XComError(f"stored XCom is not valid: {exc}") from exc
