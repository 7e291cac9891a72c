"""``S3ObjectStore``: large XCom values kept in S3 (``asyncflow.xcom_objects.ObjectStore``).

The engine picks it for ``ASYNCFLOW_XCOM_OBJECT_STORE=s3://bucket/prefix`` (add
``?conn_id=my_aws`` for another connection than ``aws_default``, and
``&region_name=...`` to override its region), through :func:`from_url`, which
``pyproject.toml`` registers as the ``s3`` entry point of
``asyncflow.xcom_object_stores`` (asyncflow never imports this package). It uses
the engine's shared S3 client of that connection, so it must be called inside a
running engine (or a :func:`asyncflow.connections.resources_scope`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from asyncflow.xcom_objects import XComError
from sensors.aws.client import DEFAULT_CONN_ID, AwsService, aws_service
from sensors.aws.errors import AwsNotFound
from sensors.aws.s3 import list_objects, split_s3_url


class S3ObjectStore:
    """Put, get and delete XCom objects at ``s3://bucket/key`` URLs.

    Args:
        aws_conn_id: The AWS connection (default ``aws_default``).
        region_name: A region overriding the connection's.

    Example:
        >>> store = S3ObjectStore("aws_default")
        >>> url = "s3://xcom/etl/run1/extract/-1/return_value.json"
        >>> await store.put(url, b"[1, 2]")  # doctest: +SKIP
        >>> await store.get(url)  # doctest: +SKIP
        b'[1, 2]'
        >>> await store.delete_prefix("s3://xcom/etl/run1/")  # doctest: +SKIP
        1
    """

    delete_batch = 1000  # keys per delete_objects call: S3's maximum

    def __init__(self, aws_conn_id: str = DEFAULT_CONN_ID, region_name: str | None = None) -> None:
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def __repr__(self) -> str:
        return f"S3ObjectStore(aws_conn_id={self.aws_conn_id!r})"

    async def _s3(self) -> AwsService:
        return await aws_service(self.aws_conn_id, "s3", self.region_name)

    async def put(self, url: str, data: bytes) -> None:
        """Write ``data`` at ``url`` (overwriting)."""
        bucket, key = split_s3_url(url)
        s3 = await self._s3()
        await s3.call(
            "put_object", Bucket=bucket, Key=key, Body=data, ContentType="application/json"
        )

    async def get(self, url: str) -> bytes:
        """The bytes at ``url``.

        Raises:
            XComError: the object (or its bucket) does not exist.
        """
        bucket, key = split_s3_url(url)
        s3 = await self._s3()
        try:
            response = await s3.call("get_object", Bucket=bucket, Key=key)
        except AwsNotFound as error:
            raise XComError(f"XCom object {url} does not exist ({error})") from None
        body: Any = response["Body"]
        async with body as stream:
            data: bytes = await stream.read()
        return data

    async def delete_prefix(self, url_prefix: str) -> int:
        """Delete every object under ``url_prefix``; returns how many.

        Keys are listed page by page (1,000 a page) and deleted ``delete_batch`` to a call.

        Raises:
            XComError: S3 refused to delete some of them (naming the first).
        """
        bucket, prefix = split_s3_url(url_prefix)
        s3 = await self._s3()
        deleted = 0
        batch: list[str] = []
        try:
            async for listed in list_objects(s3, bucket, prefix):
                batch.append(listed["Key"])
                if len(batch) == self.delete_batch:
                    deleted += await self._delete(s3, bucket, batch)
                    batch = []
        except AwsNotFound:
            return deleted  # no bucket: nothing to delete
        if batch:
            deleted += await self._delete(s3, bucket, batch)
        return deleted

    async def _delete(self, s3: AwsService, bucket: str, keys: list[str]) -> int:
        response = await s3.call(
            "delete_objects",
            Bucket=bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise XComError(
                f"S3 did not delete {len(errors)} XCom object(s), e.g. "
                f"s3://{bucket}/{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
        return len(keys)


def from_url(url: str) -> S3ObjectStore:
    """The store for ``s3://bucket/prefix?conn_id=...&region_name=...``.

    Raises:
        ValueError: ``url`` is not an ``s3://bucket/...`` URL.

    Example:
        >>> from_url("s3://xcom-bucket/asyncflow?conn_id=aws_xcom")
        S3ObjectStore(aws_conn_id='aws_xcom')
    """
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"{url!r} is not an s3://bucket/prefix URL")
    query = parse_qs(parts.query)
    conn_id = query.get("conn_id", [DEFAULT_CONN_ID])[0]
    region = query.get("region_name", [None])[0]
    return S3ObjectStore(conn_id, region)
