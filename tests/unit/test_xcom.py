"""The XCom codec: JSON round-trips, tagged extra types, rejections and the size limit."""

from __future__ import annotations

import json
import sys
import uuid
from collections import OrderedDict, namedtuple
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from asyncflow import xcom
from asyncflow.exceptions import XComError
from asyncflow.xcom import DEFAULT_MAX_BYTES, decode, encode, encode_checked

BERLIN = ZoneInfo("Europe/Berlin")
WHERE = "task 'extract' (key 'return_value')"
ACCEPTED = "return JSON types, datetime, date, time, timedelta, Decimal or UUID"
LIMIT_HINT = (
    "return a smaller value (store large data elsewhere and pass a reference)"
    " or raise the limit with ASYNCFLOW_XCOM_MAX_BYTES"
)
UID = uuid.UUID("12345678-1234-5678-1234-567812345678")


class Colour(StrEnum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


class Plain(Enum):
    A = 1


class Row:
    pass


Point = namedtuple("Point", "x y")


def roundtrip(value: object) -> Any:
    return decode(encode(value))


def assert_same(left: object, right: object) -> None:
    """Equal, with the same types all the way down (so 1 != 1.0 != True, list != tuple)."""
    assert type(left) is type(right), (left, right)
    if isinstance(left, dict):
        assert isinstance(right, dict)
        assert list(left) == list(right)
        for key in left:
            assert_same(left[key], right[key])
    elif isinstance(left, list):
        assert isinstance(right, list)
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            assert_same(a, b)
    else:
        assert left == right


# --- round-trips ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(0, id="zero"),
        pytest.param(-42, id="negative-int"),
        pytest.param(2**100, id="big-int"),
        pytest.param(1.5, id="float"),
        pytest.param(-0.0, id="negative-zero"),
        pytest.param(1e-300, id="tiny-float"),
        pytest.param(1.7976931348623157e308, id="max-float"),
        pytest.param("", id="empty-str"),
        pytest.param("hello", id="str"),
        pytest.param("héllo wörld ✓ 日本 🎉", id="unicode"),
        pytest.param('quote " backslash \\ newline \n tab \t nul \x00', id="escapes"),
        pytest.param("\ud800 lone surrogate", id="lone-surrogate"),
        pytest.param("__af__", id="tag-as-a-value"),
        pytest.param('{"__af__":"date","v":"2024-01-01"}', id="tag-inside-a-string"),
        pytest.param([], id="empty-list"),
        pytest.param({}, id="empty-dict"),
        pytest.param([1, "a", None, True, 2.5], id="mixed-list"),
        pytest.param({"a": 1, "b": [1, 2, {"c": None}]}, id="nested"),
        pytest.param({"2024": 1, "-1": 2, "1.5": 3, "true": 4, "null": 5}, id="number-like-keys"),
        pytest.param({"": 0, "a b": 1, "é": 2}, id="odd-keys"),
        pytest.param({"z": 1, "a": 2}, id="key-order-kept"),
    ],
)
def test_json_values_round_trip(value: object) -> None:
    """JSON values come back equal and of the same types."""
    assert_same(roundtrip(value), value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(date(2024, 2, 29), id="date-leap-day"),
        pytest.param(date(1, 1, 1), id="date-min"),
        pytest.param(time(0, 0), id="time-midnight"),
        pytest.param(time(23, 59, 59, 999999), id="time-micro"),
        pytest.param(time(12, 30, tzinfo=timezone(timedelta(hours=2))), id="time-offset"),
        pytest.param(timedelta(0), id="timedelta-zero"),
        pytest.param(timedelta(days=1, seconds=2, microseconds=3), id="timedelta"),
        pytest.param(timedelta(microseconds=-1), id="timedelta-negative"),
        pytest.param(timedelta.max, id="timedelta-max"),
        pytest.param(timedelta.min, id="timedelta-min"),
        pytest.param(Decimal("1.10"), id="decimal-trailing-zero"),
        pytest.param(Decimal("-0"), id="decimal-negative-zero"),
        pytest.param(Decimal("3.141592653589793238462643383279502884197"), id="decimal-long"),
        pytest.param(Decimal("1E+30"), id="decimal-exponent"),
        pytest.param(UID, id="uuid"),
    ],
)
def test_extra_types_round_trip(value: object) -> None:
    """date, time, timedelta, Decimal and UUID come back equal and of the same type."""
    result = roundtrip(value)
    assert type(result) is type(value)
    assert result == value
    assert str(result) == str(value)  # Decimal keeps every digit and its exponent


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(datetime(2024, 1, 1, 12, 30), id="naive"),
        pytest.param(datetime(2024, 1, 1, 12, 30, 0, 123456), id="naive-micro"),
        pytest.param(datetime(2024, 1, 1, tzinfo=UTC), id="utc"),
        pytest.param(
            datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))), id="+0530"
        ),
        pytest.param(datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-8))), id="-0800"),
        pytest.param(datetime(2024, 7, 1, 9, tzinfo=BERLIN), id="zoneinfo-summer"),
        pytest.param(datetime(2024, 1, 1, 9, tzinfo=BERLIN), id="zoneinfo-winter"),
        pytest.param(datetime(2024, 10, 27, 2, 30, tzinfo=BERLIN), id="zoneinfo-fold-0"),
        pytest.param(datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=BERLIN), id="zoneinfo-fold-1"),
        pytest.param(datetime(2024, 3, 31, 2, 30, tzinfo=BERLIN), id="zoneinfo-in-dst-gap"),
        pytest.param(datetime.min, id="min"),
        pytest.param(datetime.max, id="max"),
    ],
)
def test_datetimes_keep_naivety_offset_and_zone(value: datetime) -> None:
    """A datetime comes back with the same wall clock, offset, fold and tzinfo (a zone by name)."""
    result = roundtrip(value)
    assert type(result) is datetime
    assert result.replace(tzinfo=None) == value.replace(tzinfo=None)
    assert result.utcoffset() == value.utcoffset()
    assert result.fold == value.fold
    assert result.tzinfo == value.tzinfo


def test_zoned_datetime_text_has_offset_and_zone_name() -> None:
    """A zoneinfo datetime is written as ISO text with its offset, plus the zone's name."""
    text = encode(datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=BERLIN))
    assert json.loads(text) == {
        "__af__": "datetime",
        "v": "2024-10-27T02:30:00+01:00",
        "tz": "Europe/Berlin",
    }


def test_nested_mix_round_trips() -> None:
    """Extra types nested in lists and dicts come back in place."""
    value = {
        "run": {"when": datetime(2024, 2, 29, tzinfo=UTC), "id": UID},
        "rows": [[date(2024, 1, 1), Decimal("9.99")], {"span": timedelta(hours=1)}],
        "at": time(8),
    }
    assert roundtrip(value) == value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"__af__": "datetime", "v": "2024-01-01T00:00:00"}, id="looks-tagged"),
        pytest.param({"__af__": 1}, id="tag-key-only"),
        pytest.param({"__af__": "dict", "v": [["a", 1]]}, id="looks-escaped"),
        pytest.param({"__af__": {"__af__": {"__af__": None}}}, id="nested-tag-keys"),
        pytest.param([{"x": 1}, [{"__af__": "uuid", "v": str(UID)}]], id="deep-in-a-list"),
        pytest.param({"__af__": date(2024, 1, 1), "when": datetime(2024, 1, 1)}, id="with-extras"),
        pytest.param({"v": 1, "__af__": "x", "a": [1]}, id="key-order-kept"),
    ],
)
def test_user_dict_with_the_tag_key_round_trips(value: object) -> None:
    """A user dict that has the tag key is escaped and comes back as the same dict."""
    assert_same(roundtrip(value), value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param((1, 2), [1, 2], id="tuple"),
        pytest.param(Point(1, 2), [1, 2], id="namedtuple"),
        pytest.param({"t": (1, (2, 3))}, {"t": [1, [2, 3]]}, id="nested-tuples"),
        pytest.param(OrderedDict(b=1, a=2), {"b": 1, "a": 2}, id="dict-subclass"),
        pytest.param(Colour.RED, "red", id="str-enum"),
        pytest.param(Level.HIGH, 3, id="int-enum"),
        pytest.param({Colour.RED: 1}, {"red": 1}, id="str-subclass-key"),
    ],
)
def test_subclasses_decode_as_their_json_base(value: object, expected: object) -> None:
    """Tuples decode as lists (as in Airflow); dict, str and int subclasses as the base type."""
    assert_same(roundtrip(value), expected)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(None, "null", id="none"),
        pytest.param({"a": [1, 2], "b": "é"}, '{"a":[1,2],"b":"é"}', id="compact-utf8"),
        pytest.param((1,), "[1]", id="tuple"),
        pytest.param(date(2024, 2, 29), '{"__af__":"date","v":"2024-02-29"}', id="date"),
        pytest.param(Decimal("1.10"), '{"__af__":"decimal","v":"1.10"}', id="decimal"),
        pytest.param(timedelta(hours=1), '{"__af__":"timedelta","v":[0,3600,0]}', id="timedelta"),
        pytest.param({"__af__": 1}, '{"__af__":"dict","v":[["__af__",1]]}', id="escaped-user-dict"),
    ],
)
def test_encoded_text_is_compact_json(value: object, text: str) -> None:
    """The text is compact, UTF-8-friendly JSON with tagged extras."""
    assert encode(value) == text


# --- rejections -----------------------------------------------------------------------


def cannot_store(reason: str) -> str:
    return f"XCom value of {WHERE} cannot be stored: {reason}; {ACCEPTED}"


def circular() -> list[object]:
    loop: list[object] = [1]
    loop.append({"again": loop})
    return loop


def deeply_nested() -> list[object]:
    outer: list[object] = []
    inner = outer
    for _ in range(sys.getrecursionlimit() + 100):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    return outer


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(
            {"rows": [1, 2, {3}]}, "set is not JSON-serialisable (at $.rows[2])", id="set"
        ),
        pytest.param(frozenset(), "frozenset is not JSON-serialisable (at $)", id="frozenset"),
        pytest.param(b"raw", "bytes is not JSON-serialisable (at $)", id="bytes"),
        pytest.param([bytearray()], "bytearray is not JSON-serialisable (at $[0])", id="bytearray"),
        pytest.param({"o": Row()}, "Row is not JSON-serialisable (at $.o)", id="object"),
        pytest.param({"e": Plain.A}, "Plain is not JSON-serialisable (at $.e)", id="plain-enum"),
        pytest.param(
            [1, print],
            "builtin_function_or_method is not JSON-serialisable (at $[1])",
            id="function",
        ),
        pytest.param(1 + 2j, "complex is not JSON-serialisable (at $)", id="complex"),
        pytest.param({"x": float("nan")}, "float nan is not finite (at $.x)", id="nan"),
        pytest.param([float("inf")], "float inf is not finite (at $[0])", id="inf"),
        pytest.param([[float("-inf")]], "float -inf is not finite (at $[0][0])", id="minus-inf"),
        pytest.param({"d": Decimal("NaN")}, "Decimal NaN is not finite (at $.d)", id="decimal-nan"),
        pytest.param(
            Decimal("-Infinity"), "Decimal -Infinity is not finite (at $)", id="decimal-inf"
        ),
        pytest.param({1: "a"}, "dict key 1 is int, not str (at $)", id="int-key"),
        pytest.param(
            {"counts": {2.5: 1}}, "dict key 2.5 is float, not str (at $.counts)", id="float-key"
        ),
        pytest.param([{True: 1}], "dict key True is bool, not str (at $[0])", id="bool-key"),
        pytest.param({None: 1}, "dict key None is NoneType, not str (at $)", id="none-key"),
        pytest.param(
            {Level.HIGH: 1}, "dict key <Level.HIGH: 3> is Level, not str (at $)", id="int-enum-key"
        ),
        pytest.param({(1, 2): 1}, "dict key (1, 2) is tuple, not str (at $)", id="tuple-key"),
        pytest.param(
            {"__af__": 1, "x": {2: 3}},
            "dict key 2 is int, not str (at $.x)",
            id="bad-key-beside-tag-key",
        ),
        pytest.param(
            {"a b": {"c": [set()]}},
            'set is not JSON-serialisable (at $["a b"].c[0])',
            id="quoted-path",
        ),
        pytest.param(
            {'é"': b""}, 'bytes is not JSON-serialisable (at $["é\\""])', id="escaped-path"
        ),
        pytest.param(
            {"a": 1, "b": {1}, "c": {2}},
            "set is not JSON-serialisable (at $.b)",
            id="first-in-order",
        ),
        pytest.param(circular(), "circular reference (at $[1].again)", id="circular"),
        pytest.param(deeply_nested(), "nested too deeply (at $)", id="too-deep"),
        pytest.param([10**5000], "int has too many digits to write (at $[0])", id="huge-int"),
    ],
)
def test_unstorable_values_are_rejected_with_type_and_path(value: object, reason: str) -> None:
    """A value that cannot be stored fails with one line naming the task, the type and the path."""
    with pytest.raises(XComError) as caught:
        encode_checked(value, where=WHERE, max_bytes=DEFAULT_MAX_BYTES)
    assert str(caught.value) == cannot_store(reason)
    with pytest.raises(XComError) as plain:
        encode(value)
    assert str(plain.value) == f"{reason}; {ACCEPTED}"


# --- the size limit -------------------------------------------------------------------


def test_default_limit_is_48_kib() -> None:
    """The default limit is 48 KiB."""
    assert DEFAULT_MAX_BYTES == 49_152


@pytest.mark.parametrize(
    ("value", "size"),
    [
        pytest.param("a" * 98, 100, id="ascii"),
        pytest.param("é" * 49, 100, id="two-byte-chars"),
        pytest.param("日" * 32 + "a", 99, id="three-byte-chars"),
        pytest.param("🎉" * 24 + "ab", 100, id="four-byte-chars"),
        pytest.param("\ud800" + "a" * 92, 100, id="lone-surrogate-escaped"),
        pytest.param({"k": "v" * 92}, 100, id="dict"),
    ],
)
def test_size_is_utf8_bytes_of_the_text(value: object, size: int) -> None:
    """The limit counts UTF-8 bytes of the encoded text, not characters: exactly at it passes."""
    text = encode_checked(value, where=WHERE, max_bytes=size)
    assert len(text.encode("utf-8")) == size
    with pytest.raises(XComError, match=f"is {size} bytes, over the limit of {size - 1} bytes"):
        encode_checked(value, where=WHERE, max_bytes=size - 1)


@pytest.mark.parametrize(
    ("extra", "passes"),
    [
        pytest.param(-1, True, id="one-under"),
        pytest.param(0, True, id="exactly-at"),
        pytest.param(1, False, id="one-over"),
    ],
)
def test_default_limit_boundary(extra: int, passes: bool) -> None:
    """A value of exactly 49,152 bytes passes and one byte more fails."""
    value = "x" * (DEFAULT_MAX_BYTES - 2 + extra)  # the two quotes count
    if passes:
        assert len(encode_checked(value, where=WHERE, max_bytes=DEFAULT_MAX_BYTES)) <= 49_152
    else:
        with pytest.raises(XComError, match="49,153 bytes, over the limit of 49,152"):
            encode_checked(value, where=WHERE, max_bytes=DEFAULT_MAX_BYTES)


def test_oversized_message_names_task_size_and_setting() -> None:
    """The size error is one line with the task, both sizes and ASYNCFLOW_XCOM_MAX_BYTES."""
    with pytest.raises(XComError) as caught:
        encode_checked("x" * 61_438, where=WHERE, max_bytes=DEFAULT_MAX_BYTES)
    assert str(caught.value) == (
        f"XCom value of {WHERE} is 61,440 bytes, over the limit of 49,152 bytes; {LIMIT_HINT}"
    )


def test_plain_encode_has_no_size_limit() -> None:
    """Plain `encode` does not limit the size; `encode_checked` does."""
    assert len(encode("x" * 1_000_000)) == 1_000_002


# --- decoding what the codec did not write ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("not json", "stored XCom is not valid: Expecting value", id="not-json"),
        pytest.param("", "stored XCom is not valid: Expecting value", id="empty"),
        pytest.param(
            '{"__af__":"nope","v":1}', "stored XCom has an unknown tag 'nope'", id="unknown-tag"
        ),
        pytest.param('{"__af__":[1]}', "stored XCom has an unknown tag [1]", id="tag-not-str"),
        pytest.param(
            '{"__af__":"date","v":"xx"}', "stored XCom has a malformed date value", id="bad-date"
        ),
        pytest.param(
            '{"__af__":"timedelta"}', "stored XCom has a malformed timedelta value", id="missing-v"
        ),
    ],
)
def test_decode_rejects_foreign_text(text: str, message: str) -> None:
    """Text the codec did not write fails with XComError, not a bare json error."""
    with pytest.raises(XComError, match=message.replace("[", r"\[")):
        decode(text)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param(7, id="int"),
        pytest.param("short", id="str"),
        pytest.param({"a": 1, "b": "x", "c": [1, 2.5, None], "d": {"e": True}}, id="small-dict"),
        pytest.param([{"id": i, "name": f"n{i}"} for i in range(50)], id="rows"),
    ],
)
def test_plain_values_take_the_fast_path(value: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain JSON values are encoded by json alone, byte-identical, with no walk over them."""

    def no_walk(obj: object) -> bool:
        raise AssertionError("walked a plain value")

    monkeypatch.setattr(xcom, "_needs_escape", no_walk)
    monkeypatch.setattr(xcom, "_locate", no_walk)
    text = encode(value)
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("value", [None, 0, -7, 2**70, True, False, Level.HIGH], ids=repr)
def test_none_and_ints_encode_as_json_writes_them(value: Any) -> None:
    """None, ints, bools and an IntEnum are stored as json.dumps writes them, and come back."""
    text = encode(value)
    assert text == json.dumps(value, separators=(",", ":"))
    assert decode(text) == value
    assert type(decode(text)) is type(json.loads(text))
