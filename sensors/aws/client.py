"""One AWS client per connection, service and region, shared by every sensor of an engine.

``aws_service(conn_id, service)`` gives a poke what it needs to call AWS: the
engine's client for ``(conn_id, service, region)``, made on first use through
:func:`asyncflow.connections.shared` and closed when the engine stops. It is an
aioboto3 client (aioboto3's ``Session.client`` is aiobotocore's
``create_client``, called here directly because it is typed), configured with
botocore's ``standard`` retry mode and a bounded connection pool, so ten
thousand S3 sensors make at most ``max_pool_connections`` requests at a time.

The connection (``ASYNCFLOW_CONN_AWS_DEFAULT='aws://KEY_ID:SECRET@/?region_name=...'``)
gives, all optional:

- login / password: the access key id and secret (else ``aws_access_key_id`` /
  ``aws_secret_access_key`` extras, else botocore's default chain: environment,
  ``~/.aws``, container or instance role);
- extras ``aws_session_token``, ``region_name``, ``endpoint_url`` (moto, MinIO,
  a VPC endpoint), ``profile_name`` (or ``profile``), ``verify`` (``false`` to
  skip TLS verification), ``max_pool_connections`` [32], ``max_attempts`` [3],
  ``connect_timeout`` [10 s], ``read_timeout`` [60 s]. ``max_attempts`` counts the
  first try (as ``AWS_MAX_ATTEMPTS`` does).

Loading botocore's service models reads and parses megabytes of JSON: that
happens in a worker thread, once per process and service (the parsed models are
shared), so making a client never stalls the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asyncflow import AsyncflowError
from asyncflow.connections import Connection, get_connection, shared

# The engine's bounded worker threads, for loading botocore's models off the loop.
from asyncflow.threads import call
from sensors.aws.errors import AwsConfigError, translate

if TYPE_CHECKING:
    from aiobotocore.session import AioSession
    from botocore.loaders import Loader

DEFAULT_CONN_ID = "aws_default"
_MISSING_EXTRA = "the AWS sensors need the aws extra: pip install 'asyncflow[aws]'"
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsOptions:
    """How clients for one connection are made, read from the connection."""

    conn_id: str
    region_name: str | None = None
    endpoint_url: str | None = None
    profile_name: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    verify: bool = True
    max_pool_connections: int = 32
    max_attempts: int = 3
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


def aws_options(conn: Connection) -> AwsOptions:
    """Read an ``aws://`` connection's credentials, region, endpoint and client limits.

    Raises:
        AwsConfigError: it is not an aws connection, or an extra has a bad value;
            the message names the connection and the extra, never a secret.

    Example:
        >>> from asyncflow.connections import parse_uri
        >>> aws_options(parse_uri("aws_default", "aws://?region_name=eu-west-1")).region_name
        'eu-west-1'
    """
    where = f"connection {conn.conn_id!r}"
    if conn.conn_type != "aws":
        raise AwsConfigError(
            f"{where} is a {conn.conn_type}:// connection; AWS needs aws:// "
            "(e.g. 'aws://?region_name=us-east-1')"
        )
    extra = conn.extra
    key_id = conn.login or extra.get("aws_access_key_id") or None
    secret = conn.password or extra.get("aws_secret_access_key") or None
    if bool(key_id) != bool(secret):
        raise AwsConfigError(
            f"{where} has half a key pair: give both the access key id (login) "
            "and the secret (password), or neither to use botocore's default chain"
        )
    return AwsOptions(
        conn_id=conn.conn_id,
        region_name=extra.get("region_name") or None,
        endpoint_url=extra.get("endpoint_url") or None,
        profile_name=extra.get("profile_name") or extra.get("profile") or None,
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=extra.get("aws_session_token") or None,
        verify=extra.get("verify", "true").strip().lower() not in _FALSE,
        max_pool_connections=int(_number(extra, "max_pool_connections", 32, where, whole=True)),
        max_attempts=int(_number(extra, "max_attempts", 3, where, whole=True)),
        connect_timeout=_number(extra, "connect_timeout", 10.0, where),
        read_timeout=_number(extra, "read_timeout", 60.0, where),
    )


def _number(
    extra: Mapping[str, str], name: str, default: float, where: str, *, whole: bool = False
) -> float:
    text = extra.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = 0
    if not value > 0:
        kind = "a whole number" if whole else "a number of seconds"
        raise AwsConfigError(f"{where}: extra {name} must be {kind} above 0, got {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class AwsService:
    """A shared client for one AWS service, and the connection it speaks for."""

    conn_id: str
    service: str
    client: Any = field(repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    async def call(self, operation: str, /, **params: Any) -> dict[str, Any]:
        """Call ``operation`` (botocore's snake_case name) with ``params``.

        Returns:
            The response, without botocore's ``ResponseMetadata``.

        Raises:
            AwsError: one of its kinds (see :mod:`sensors.aws.errors`), one line.

        Example:
            >>> glue = await aws_service("aws_default", "glue")  # doctest: +SKIP
            >>> run = await glue.call("get_job_run", JobName="etl", RunId=run_id)  # doctest: +SKIP
        """
        if operation not in self.client.meta.method_to_api_mapping:
            raise AwsConfigError(
                f"AWS service {self.service!r} has no operation {operation!r} "
                f"(aws_conn_id {self.conn_id!r}); operations are botocore's snake_case "
                "method names, e.g. 'get_job_run'"
            )
        try:
            response = await getattr(self.client, operation)(**params)
        except Exception as error:
            found = translate(
                error, operation=operation, conn_id=self.conn_id, secrets=self.secrets
            )
            if found is None:
                raise
            raise found from None
        return {key: value for key, value in response.items() if key != "ResponseMetadata"}


async def aws_service(
    conn_id: str = DEFAULT_CONN_ID, service: str = "s3", region_name: str | None = None
) -> AwsService:
    """The running engine's client for ``service`` through connection ``conn_id``.

    Made on first use (one per connection, service and region, for the engine's
    lifetime); ``region_name`` overrides the connection's.

    Raises:
        AwsConfigError: the connection is missing or malformed (the message names
            it), the service or the profile does not exist, or no region is known.
        EngineError: outside a running engine.

    Example:
        >>> s3 = await aws_service("aws_default", "s3")  # doctest: +SKIP
        >>> await s3.call("head_object", Bucket="data", Key="in/ready.csv")  # doctest: +SKIP
    """
    conn = _connection(conn_id)
    options = aws_options(conn)
    region = region_name or options.region_name
    client = await shared(
        ("aws", conn_id, service, region), lambda: _open_client(service, region, options)
    )
    return AwsService(conn_id, service, client, conn.secrets)


def _connection(conn_id: str) -> Connection:
    try:
        return get_connection(conn_id)
    except AsyncflowError as error:  # ConnectionConfigError: its message names the id
        raise AwsConfigError(str(error)) from None


@asynccontextmanager
async def _open_client(service: str, region: str | None, options: AwsOptions) -> AsyncIterator[Any]:
    session = await call(_prepared_session, service, options)
    from aiobotocore.config import AioConfig

    config = AioConfig(
        retries={"mode": "standard", "total_max_attempts": options.max_attempts},
        max_pool_connections=options.max_pool_connections,
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        user_agent_extra="asyncflow",
    )
    async with AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(
                session.create_client(
                    service,
                    region_name=region,
                    endpoint_url=options.endpoint_url,
                    aws_access_key_id=options.access_key_id,
                    aws_secret_access_key=options.secret_access_key,
                    aws_session_token=options.session_token,
                    verify=options.verify,
                    config=config,
                )
            )
        except Exception as error:
            found = translate(error, operation="create_client", conn_id=options.conn_id)
            if found is None:
                raise
            raise found from None
        yield client


def _prepared_session(service: str, options: AwsOptions) -> AioSession:
    """A session whose models for ``service`` are loaded (blocking: run in a thread)."""
    try:
        from aiobotocore.session import AioSession
        from botocore.exceptions import ProfileNotFound, UnknownServiceError
    except ImportError:
        raise AwsConfigError(_MISSING_EXTRA) from None
    where = f"aws_conn_id {options.conn_id!r}"
    try:
        session = AioSession(profile=options.profile_name)
        session.get_scoped_config()  # an unknown profile fails here
    except ProfileNotFound as error:
        raise AwsConfigError(f"{where}: {error}") from None
    loader = _shared_loader(session)
    session.register_component("data_loader", loader)
    try:
        loader.load_service_model(service, "service-2", api_version=None)
    except UnknownServiceError:
        raise AwsConfigError(f"AWS has no service {service!r} ({where})") from None
    loader.load_service_model(service, "endpoint-rule-set-1", api_version=None)
    loader.load_data_with_path("endpoints")  # what the session's endpoint resolver reads
    loader.load_data("sdk-default-configuration")
    return session


_loaders: dict[str | None, Loader] = {}
_loaders_lock = threading.Lock()


def _shared_loader(session: AioSession) -> Loader:
    """One botocore loader per data path for the process: models are parsed once."""
    from botocore.loaders import create_loader

    path = session.get_config_variable("data_path")
    with _loaders_lock:
        loader = _loaders.get(path)
        if loader is None:
            loader = _loaders[path] = create_loader(path)
    return loader
