"""XCom values too large for the store go to object storage; the store keeps a reference.

With ``ASYNCFLOW_XCOM_OBJECT_STORE`` set (e.g. ``s3://bucket/prefix``, optionally
``?conn_id=aws_default``), a value whose JSON is larger than
``ASYNCFLOW_XCOM_OBJECT_THRESHOLD`` bytes is written to
``<url>/<dag_id>/<run_id>/<task_id>/<map_index>/<key>.json`` and only a reference
is stored. ``xcom_pull`` and task arguments read it back transparently;
``engine.clear_xcom`` removes the objects with the rows.

Backends are chosen by the URL's scheme and imported lazily: ``s3`` comes from
``sensors.aws.object_store`` (the ``aws`` extra).
"""

from __future__ import annotations

from typing import Protocol


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
