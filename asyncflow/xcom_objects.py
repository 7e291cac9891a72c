"""XCom values too large for the store go to object storage; the store keeps a reference.

With ``ASYNCFLOW_XCOM_OBJECT_STORE`` set (e.g. ``s3://bucket/prefix``, optionally
``?conn_id=aws_default``), a value whose JSON is larger than
``ASYNCFLOW_XCOM_OBJECT_THRESHOLD`` bytes is written to
``<url>/<dag_id>/<run_id>/<task_id>/<map_index>/<key>.json`` and only a reference
is stored. ``xcom_pull`` and task arguments read it back transparently;
``engine.clear_xcom`` removes the objects with the rows.

Backends are chosen by the URL's scheme and imported only when named: ``memory``
is here; every other scheme is an entry point in the ``asyncflow.xcom_object_stores``
group, a callable that takes the URL and returns an :class:`ObjectStore`. ``s3``
is one (the sensor library's AWS code, with the ``aws`` extra), registered in
``pyproject.toml``: asyncflow never imports the sensor library, which depends on
asyncflow and not the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib.metadata import entry_points
from typing import Any, Protocol
from urllib.parse import urlsplit

from asyncflow.exceptions import MissingExtraError
from asyncflow.exceptions import XComError as XComError  # ObjectStore.get raises it
from asyncflow.records import XComRecord
from asyncflow.xcom import ObjectRef, decode, encode

BACKENDS = "asyncflow.xcom_object_stores"  # the entry point group of the other schemes
# The extra of asyncflow that brings a registered backend's dependencies, where it is
# not named after the scheme, so that an error can say what to install.
_EXTRAS = {"s3": "aws"}


class ObjectStore(Protocol):
    """Where large XCom values are kept: put, get and delete by URL."""

    async def put(self, url: str, data: bytes) -> None:
        """Write ``data`` at ``url`` (overwriting)."""
        ...

    async def get(self, url: str) -> bytes:
        """The bytes at ``url``.

        Raises:
            XComError: when the object is missing or unreadable (naming the URL).
        """
        ...

    async def delete_prefix(self, url_prefix: str) -> int:
        """Delete every object under ``url_prefix``; returns how many."""
        ...


class MemoryObjectStore:
    """Objects in a dict: for tests, and to try the feature without a bucket."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, url: str, data: bytes) -> None:
        """Keep ``data`` under ``url``."""
        self.objects[url] = data

    async def get(self, url: str) -> bytes:
        """The bytes under ``url``."""
        try:
            return self.objects[url]
        except KeyError:
            raise XComError(f"XCom object {url} does not exist") from None

    async def delete_prefix(self, url_prefix: str) -> int:
        """Forget every object under ``url_prefix``."""
        doomed = [url for url in self.objects if url.startswith(url_prefix)]
        for url in doomed:
            del self.objects[url]
        return len(doomed)


class XComObjects:
    """Moves XCom values over ``threshold`` bytes to an object store, and back.

    Args:
        store: Where the objects go.
        base_url: The URL prefix, e.g. ``s3://bucket/xcom``.
        threshold: Values whose JSON is larger than this many bytes are offloaded.
    """

    def __init__(self, store: ObjectStore, base_url: str, threshold: int) -> None:
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.threshold = threshold

    def run_prefix(self, dag_id: str, run_id: str) -> str:
        """The URL prefix under which one run's objects live."""
        return f"{self.base_url}/{dag_id}/{run_id}/"

    def url_for(self, record: XComRecord) -> str:
        """``<base>/<dag_id>/<run_id>/<task_id>/<map_index>/<key>.json``."""
        prefix = self.run_prefix(record.dag_id, record.run_id)
        return f"{prefix}{record.task_id}/{record.map_index}/{record.key}.json"

    async def offload(self, records: Sequence[XComRecord]) -> tuple[XComRecord, ...]:
        """The records, with every value over the threshold written out and referenced."""
        out = []
        for record in records:
            data = record.value.encode()
            if len(data) > self.threshold:
                url = self.url_for(record)
                await self.store.put(url, data)
                record = replace(record, value=encode(ObjectRef(url, len(data))))
            out.append(record)
        return tuple(out)

    async def text_of(self, ref: ObjectRef) -> str:
        """The JSON text kept at ``ref``."""
        return (await self.store.get(ref.url)).decode()

    async def delete_run(self, dag_id: str, run_id: str) -> int:
        """Delete every object of a run."""
        return await self.store.delete_prefix(self.run_prefix(dag_id, run_id))


async def load(text: str, objects: XComObjects | None) -> Any:
    """Decode stored XCom text, reading it from object storage when it is a reference.

    Raises:
        XComError: when the value is in object storage but none is configured.
    """
    value = decode(text)
    if isinstance(value, ObjectRef):
        return decode(await stored_text(value, objects))
    return value


async def stored_text(ref: ObjectRef, objects: XComObjects | None) -> str:
    """The JSON text a reference points to."""
    if objects is None:
        raise XComError(
            f"XCom value is kept at {ref.url}, but no object store is configured; "
            "set ASYNCFLOW_XCOM_OBJECT_STORE"
        )
    return await objects.text_of(ref)


def open_objects(url: str | None, threshold: int) -> XComObjects | None:
    """The offloader for ``ASYNCFLOW_XCOM_OBJECT_STORE`` (``None`` when unset).

    ``s3://bucket/prefix[?conn_id=...]`` needs the ``aws`` extra; ``memory://``
    keeps objects in this process (tests, trials).

    Raises:
        MissingExtraError: for s3:// without the aws extra installed.
        XComError: for a URL scheme no backend serves.
    """
    if not url:
        return None
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return XComObjects(MemoryObjectStore(), "memory://xcom", threshold)
    base = url.split("?", 1)[0]
    return XComObjects(_backend(scheme)(url), base, threshold)


def _backend(scheme: str) -> Callable[[str], ObjectStore]:
    """The registered factory of the object store for ``scheme``, imported now."""
    registered = entry_points(group=BACKENDS)
    if scheme not in registered.names:
        accepted = " or ".join([*(f"{name}://" for name in sorted(registered.names)), "memory://"])
        raise XComError(
            f"ASYNCFLOW_XCOM_OBJECT_STORE has an unknown scheme {scheme!r}; use {accepted}"
        )
    try:
        factory: Callable[[str], ObjectStore] = registered[scheme].load()
    except ImportError as error:
        extra = _EXTRAS.get(scheme, scheme)
        raise MissingExtraError(
            f"XCom object storage on {scheme}:// needs the {extra} extra: "
            f"pip install 'asyncflow[{extra}]'"
        ) from error
    return factory
