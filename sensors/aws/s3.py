"""``S3KeySensor``: wait until S3 keys exist, matched exactly, by wildcard or by regex.

As Airflow's sensor does: an exact key is checked with ``head_object``; a
wildcard key lists the bucket under the part before its first wildcard and
matches with :func:`fnmatch.fnmatchcase` (``*`` crosses ``/``); a regex lists the
bucket under the regex's literal beginning (the whole bucket when it has none)
and matches with :func:`re.match`. Listings are paginated (1,000 keys a page).
Every listed key must match something, and ``check_fn`` (given the matches'
metadata) must approve each key's matches, for the wait to end.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from asyncflow import FailTask, PokeReturnValue, Sensor

# The engine's worker threads, for a sync check_fn (user code).
from asyncflow.threads import call
from sensors._common import Context, definition_error, short
from sensors._extras import require_extra
from sensors.aws._task import (
    depend_on_task_results,
    failing_task,
    resolve_task_results,
    task_log,
    task_results_in,
)
from sensors.aws.client import DEFAULT_CONN_ID, AwsService, aws_service
from sensors.aws.errors import AwsAccessDenied, AwsNotFound, AwsTransient
from sensors.aws.poll import json_ready

DEFAULT_METADATA_KEYS = ("Key", "Size", "LastModified", "ETag")
_WILDCARD = re.compile(r"[*?\[]")
_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")
_OPTIONAL_AFTER = frozenset("*?{")  # these make the character before them optional

Match = Literal["exact", "wildcard", "regex"]


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` as ``("bucket", "some/key")``; ``?`` stays in the key.

    Raises:
        ValueError: ``url`` is not an ``s3://bucket/...`` URL.

    Example:
        >>> split_s3_url("s3://data/in/2024-01-01/*.csv")
        ('data', 'in/2024-01-01/*.csv')
    """
    parts = urlsplit(url, allow_fragments=False)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"{url!r} is not an s3://bucket/key URL")
    key = parts.path.lstrip("/")
    if parts.query:
        key += "?" + parts.query
    return parts.netloc, key


def regex_prefix(pattern: str) -> str:
    r"""The literal start every key matching ``pattern`` (with :func:`re.match`) has.

    Conservative: stops at the first special character, drops a character made
    optional by ``*``, ``?`` or ``{``, and gives up on alternatives (``|``).

    Example:
        >>> regex_prefix(r"logs/2024-0[1-3]/.*\.gz")
        'logs/2024-0'
        >>> regex_prefix("data/x?y"), regex_prefix("a|b")
        ('data/', '')
    """
    if "|" in pattern:
        return ""
    pattern = pattern.removeprefix("^")
    literal: list[str] = []
    for char in pattern:
        if char in _REGEX_SPECIAL:
            if char in _OPTIONAL_AFTER and literal:
                literal.pop()
            break
        literal.append(char)
    return "".join(literal)


@dataclass(frozen=True, slots=True)
class KeyTarget:
    """One ``bucket_key`` to find: its bucket, the key or pattern, and how to match."""

    bucket: str
    key: str
    how: Match
    regex: re.Pattern[str] | None = None

    @property
    def prefix(self) -> str:
        """Where listing starts (wildcard and regex targets)."""
        if self.how == "regex":
            return regex_prefix(self.key)
        return _WILDCARD.split(self.key, maxsplit=1)[0]

    def matches(self, key: str) -> bool:
        """Whether a listed ``key`` is one this target looks for."""
        if self.how == "regex":
            assert self.regex is not None
            return self.regex.match(key) is not None
        return fnmatch.fnmatchcase(key, self.key)


def plan_targets(
    bucket_key: object, bucket_name: str | None, *, wildcard: bool, regex: bool
) -> list[KeyTarget]:
    """The targets for ``bucket_key`` (one key or a list; relative or ``s3://`` URLs).

    Raises:
        ValueError: a key is empty or not a string, a relative key has no
            ``bucket_name``, a URL comes with ``bucket_name`` too, or a regex does
            not compile.

    Example:
        >>> plan_targets("s3://data/in/*.csv", None, wildcard=True, regex=False)
        [KeyTarget(bucket='data', key='in/*.csv', how='wildcard', regex=None)]
    """
    keys = [bucket_key] if isinstance(bucket_key, str) else bucket_key
    if not isinstance(keys, list | tuple) or not keys:
        raise ValueError(
            f"bucket_key must be a key or a non-empty list of keys, got {short(bucket_key)}"
        )
    how: Match = "regex" if regex else "wildcard" if wildcard else "exact"
    targets = []
    for key in keys:
        if not isinstance(key, str) or not key:
            raise ValueError(f"every bucket_key must be a non-empty string, got {short(key)}")
        if key.startswith("s3://"):
            if bucket_name is not None:
                raise ValueError(
                    f"bucket_key {key!r} is a full s3:// URL, so bucket_name must not be given"
                )
            bucket, relative = split_s3_url(key)
        elif bucket_name is None:
            raise ValueError(f"bucket_key {key!r} is relative: give bucket_name or an s3:// URL")
        else:
            bucket, relative = bucket_name, key
        compiled = None
        if regex:
            try:
                compiled = re.compile(relative)
            except re.error as error:
                raise ValueError(f"bucket_key {relative!r} is not a valid regex: {error}") from None
        targets.append(KeyTarget(bucket, relative, how, compiled))
    return targets


async def list_objects(s3: AwsService, bucket: str, prefix: str) -> AsyncIterator[dict[str, Any]]:
    """Every object under ``prefix``, page by page (``list_objects_v2``).

    Raises:
        AwsNotFound: the bucket does not exist.

    Example:
        >>> async for listed in list_objects(s3, "data", "in/"):  # doctest: +SKIP
        ...     print(listed["Key"], listed["Size"])
    """
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = await s3.call("list_objects_v2", **params)
        for listed in page.get("Contents") or ():
            yield listed
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return
        params["ContinuationToken"] = token


def missing_bucket(bucket: str, conn_id: str) -> FailTask:
    """The one-line failure for a bucket that does not exist."""
    return FailTask(f"S3 bucket {bucket!r} does not exist (aws_conn_id {conn_id!r})")


class S3KeySensor(Sensor):
    """Wait until every key in ``bucket_key`` exists in S3.

    Its XCom result is the metadata of every matched object (for each key, in the
    order given): dicts with ``metadata_keys`` (datetimes aware UTC). Matching
    thousands of objects can outgrow the XCom size limit; configure object
    storage for XCom or ask for fewer ``metadata_keys``.

    Args:
        bucket_key: A key or a list of keys, each relative to ``bucket_name`` or a
            full ``s3://bucket/key`` URL; or a task's result giving them. All must exist.
        bucket_name: The bucket of relative keys.
        wildcard_match: Keys are Unix wildcards (``*``, ``?``, ``[...]``).
        use_regex: Keys are regular expressions (matched from the key's start).
        check_fn: Called with the list of one key's matches' metadata (and
            ``**context`` if it takes ``**kwargs``, as in Airflow); the wait goes on
            until it returns true for every key. Sync functions run in a worker
            thread; ``async def`` is awaited.
        metadata_keys: What each match's metadata holds (default ``Key``, ``Size``,
            ``LastModified``, ``ETag``: Airflow's ``Size`` and more). A key the
            listing lacks is read with ``head_object``; ``["*"]`` gives all of
            ``head_object``'s response.
        aws_conn_id: The AWS connection (default ``aws_default``).
        region_name: A region overriding the connection's.
        **kwargs: The sensor keywords (see :class:`~asyncflow.Sensor`).

    Raises:
        DagDefinitionError: a keyword above is given wrongly (a relative key without
            ``bucket_name``, both ``wildcard_match`` and ``use_regex``, a bad regex...).

    Example:
        >>> with DAG("ingest"):  # doctest: +SKIP
        ...     landed = S3KeySensor(
        ...         task_id="landed",
        ...         bucket_key="s3://data/in/2024-01-01/*.csv",
        ...         wildcard_match=True,
        ...         check_fn=lambda files: all(f["Size"] > 0 for f in files),
        ...         mode="reschedule",
        ...         poke_interval=60,
        ...     )
    """

    ui_color = "#ff9900"

    def __init__(
        self,
        bucket_key: str | Sequence[str] | Any,
        *,
        bucket_name: str | None = None,
        wildcard_match: bool = False,
        use_regex: bool = False,
        check_fn: Callable[..., Any] | None = None,
        metadata_keys: Sequence[str] | None = None,
        aws_conn_id: str = DEFAULT_CONN_ID,
        region_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        require_extra("aws", type(self).__name__)
        super().__init__(**kwargs)
        for name, flag in (("wildcard_match", wildcard_match), ("use_regex", use_regex)):
            if not isinstance(flag, bool):
                raise definition_error(self.task_id, f"{name} must be True or False, got {flag!r}")
        if wildcard_match and use_regex:
            raise definition_error(self.task_id, "choose wildcard_match or use_regex, not both")
        if check_fn is not None and not callable(check_fn):
            raise definition_error(
                self.task_id, f"check_fn must be callable, got {short(check_fn)}"
            )
        keys = DEFAULT_METADATA_KEYS if metadata_keys is None else metadata_keys
        if isinstance(keys, str) or not all(isinstance(k, str) and k for k in keys):
            raise definition_error(
                self.task_id, f"metadata_keys must be a list of names, got {short(metadata_keys)}"
            )
        self.bucket_key = bucket_key
        self.bucket_name = bucket_name
        self.wildcard_match = wildcard_match
        self.use_regex = use_regex
        self.check_fn = check_fn
        self.metadata_keys = tuple(keys)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self._targets: list[KeyTarget] | None = None
        self._buckets_seen: set[str] = set()
        if next(task_results_in(bucket_key), None) is None:
            try:
                self._targets = self._plan(bucket_key)
            except ValueError as error:
                raise definition_error(self.task_id, str(error)) from None
        depend_on_task_results(self, bucket_key)

    def _plan(self, bucket_key: object) -> list[KeyTarget]:
        return plan_targets(
            bucket_key, self.bucket_name, wildcard=self.wildcard_match, regex=self.use_regex
        )

    async def poke(self, context: Context) -> bool | PokeReturnValue:
        """Look for every key once; done when all are there and ``check_fn`` approves."""
        log = task_log(context)
        with failing_task():
            targets = self._targets or await self._resolved_targets(context)
            s3 = await aws_service(self.aws_conn_id, "s3", self.region_name)
            found: list[dict[str, Any]] = []
            for target in targets:
                try:
                    files = await self._find(s3, target)
                except AwsTransient as error:
                    log.warning("s3_poke_transient_error", error=str(error))
                    return False
                if not files or not await self._approved(files, context):
                    return False
                found.extend(files)
        log.debug("s3_keys_found", matches=len(found))
        return PokeReturnValue(True, xcom_value=found)

    async def _resolved_targets(self, context: Context) -> list[KeyTarget]:
        try:
            return self._plan(await resolve_task_results(self.bucket_key, context))
        except ValueError as error:
            raise FailTask(f"task {self.task_id!r}: {error}") from None

    async def _find(self, s3: AwsService, target: KeyTarget) -> list[dict[str, Any]]:
        """The metadata of the objects ``target`` matches (empty: not there yet)."""
        if target.how == "exact":
            head = await self._head(s3, target.bucket, target.key)
            if head is None:
                await self._require_bucket(s3, target.bucket)
                return []
            return [await self._metadata(s3, target.bucket, head)]
        matched = []
        try:
            async for listed in list_objects(s3, target.bucket, target.prefix):
                if target.matches(listed["Key"]):
                    matched.append(listed)
        except AwsNotFound:
            raise missing_bucket(target.bucket, s3.conn_id) from None
        return [await self._metadata(s3, target.bucket, listed) for listed in matched]

    async def _head(self, s3: AwsService, bucket: str, key: str) -> dict[str, Any] | None:
        """``head_object`` in the shape of a listed object (``Key``, ``Size``...), or ``None``."""
        try:
            head = await s3.call("head_object", Bucket=bucket, Key=key)
        except AwsNotFound:
            return None
        return {"Key": key, "Size": head.get("ContentLength"), **head}

    async def _require_bucket(self, s3: AwsService, bucket: str) -> None:
        """Fail when the bucket itself is missing (a 404 on a key does not say which)."""
        if bucket in self._buckets_seen:
            return
        try:
            await s3.call("head_bucket", Bucket=bucket)
        except AwsNotFound:
            raise missing_bucket(bucket, s3.conn_id) from None
        except AwsAccessDenied:
            pass  # it exists, but these credentials may not look at it: keep waiting
        self._buckets_seen.add(bucket)

    async def _metadata(
        self, s3: AwsService, bucket: str, obj: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The ``metadata_keys`` of one object, reading ``head_object`` only when needed."""
        source = dict(obj)
        wanted = self.metadata_keys
        needs_head = "*" in wanted or any(key not in source for key in wanted)
        if needs_head and "ContentLength" not in source:  # a listed object, not a head
            source.update(await self._head(s3, bucket, str(source["Key"])) or {})
        chosen = source if "*" in wanted else {key: source.get(key) for key in wanted}
        ready: dict[str, Any] = json_ready(chosen)
        return ready

    async def _approved(self, files: list[dict[str, Any]], context: Context) -> bool:
        if self.check_fn is None:
            return True
        if _takes_kwargs(self.check_fn):
            return bool(await call(self.check_fn, files, **context))
        return bool(await call(self.check_fn, files))


def _takes_kwargs(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
