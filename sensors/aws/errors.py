"""What can go wrong when calling AWS, sorted by what the caller should do about it.

Every botocore error a call raises is translated into one of these, with a
one-line message naming the operation and the ``aws_conn_id``, never a
connection's secret nor a parameter's value::

    AwsError                 an AWS call failed (other client errors: retry the try)
    ├── AwsConfigError       the connection, profile, region, service, operation or
    │                        parameters are wrong: retrying cannot help
    ├── AwsAccessDenied      the credentials are refused, or not allowed to do this
    ├── AwsNotFound          the resource does not exist (bucket, key, job, run)
    └── AwsTransient         network, throttling or a 5xx, after botocore's retries

Sensors turn ``AwsConfigError`` and ``AwsAccessDenied`` into ``FailTask`` (no
retries), ``AwsTransient`` into a not-done poke with a warning, and interpret
``AwsNotFound`` themselves (a key not there yet, a bucket that does not exist).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from asyncflow import AsyncflowError

_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "TransactionInProgressException",
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
    }
)
_ACCESS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
_INVALID = frozenset(
    {
        "InvalidArgument",
        "InvalidInputException",
        "InvalidParameterException",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidRequestException",
        "ValidationError",
        "ValidationException",
    }
)
_NOT_FOUND = re.compile(r"NotFound|NoSuch|NotExist")
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.DOTALL)
_PARAM_VALUE = re.compile(r", value: .*?, type:")


class AwsError(AsyncflowError):
    """An AWS call failed; the message is one line naming the operation and connection."""

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code  # AWS's error code, e.g. "NoSuchBucket" ("" when not from AWS)
        self.status = status  # the HTTP status, when AWS answered


class AwsConfigError(AwsError):
    """The connection, profile, region, service, operation or parameters are wrong."""


class AwsAccessDenied(AwsError):
    """AWS refused the credentials, or they are not allowed to make this call."""


class AwsNotFound(AwsError):
    """The resource does not exist (a bucket, a key, a job, a run)."""


class AwsTransient(AwsError):
    """Network trouble, throttling or a server error that outlasted botocore's retries."""


def translate(
    error: Exception, *, operation: str, conn_id: str, secrets: Iterable[str] = ()
) -> AwsError | None:
    """The :class:`AwsError` for a botocore error, or ``None`` when it is not one.

    Args:
        error: What the call raised.
        operation: The snake_case operation called (named when botocore does not).
        conn_id: The connection used, named in the message.
        secrets: Values to mask wherever they appear in the message.

    Example:
        >>> from botocore.exceptions import ClientError
        >>> answer = {"Error": {"Code": "NoSuchBucket", "Message": "gone"}}
        >>> failure = ClientError(answer, "ListObjectsV2")
        >>> str(translate(failure, operation="list_objects_v2", conn_id="aws_default"))
        "ListObjectsV2 failed for aws_conn_id 'aws_default': NoSuchBucket: gone"
    """
    import botocore.exceptions as bx  # the aws extra; imported once a call was made

    where = f"aws_conn_id {conn_id!r}"
    found: AwsError | None
    if isinstance(error, bx.ClientError):
        found = _client_error(error, where)
    elif isinstance(error, bx.ParamValidationError):
        # botocore's report quotes parameter values, which may be secrets: drop them
        report = _PARAM_VALUE.sub(", type:", str(error))
        found = AwsConfigError(f"{operation}: {_one_line(report)} ({where})")
    elif isinstance(error, bx.NoCredentialsError | bx.PartialCredentialsError):
        found = AwsConfigError(
            f"no usable AWS credentials for {where}: give the connection a login "
            "(access key id) and password (secret), a profile_name, or configure "
            "botocore's default chain (environment, ~/.aws, instance role)"
        )
    elif isinstance(error, bx.SSLError):
        found = AwsConfigError(f"{operation}: TLS failed for {where}: {_one_line(error)}")
    elif isinstance(error, bx.HTTPClientError | bx.ConnectionError):  # refused, timeouts
        found = AwsTransient(f"{operation} could not reach AWS for {where}: {_one_line(error)}")
    elif isinstance(error, bx.NoRegionError):
        found = AwsConfigError(
            f"{where} names no region: add ?region_name=... to the connection "
            "(or set AWS_DEFAULT_REGION)"
        )
    elif isinstance(error, bx.BotoCoreError):
        found = AwsConfigError(f"{operation} failed for {where}: {_one_line(error)}")
    else:
        return None
    return _masked(found, secrets)


def _client_error(error: Any, where: str) -> AwsError:
    details = error.response.get("Error", {})
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(details.get("Code") or status or "Unknown")
    message = _clean(str(details.get("Message") or ""))
    said = f"{code}: {message}" if message else code
    text = f"{error.operation_name} failed for {where}: {said}"
    kind: type[AwsError] = AwsError
    if code in _THROTTLING or status == 429 or (isinstance(status, int) and status >= 500):
        kind = AwsTransient
    elif code in _ACCESS or status in (401, 403):
        kind = AwsAccessDenied
        text += " (check the connection's credentials and the permissions they carry)"
    elif code in _INVALID:
        kind = AwsConfigError
    elif status == 404 or _NOT_FOUND.search(code):
        kind = AwsNotFound
    return kind(text, code=code, status=status)


def _clean(message: str) -> str:
    """AWS's message on one line (some emulators wrap it in an XML error document)."""
    if message.lstrip().startswith("<"):
        found = _XML_MESSAGE.search(message)
        message = found.group(1) if found else ""
    return _one_line(message)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]


def _masked(error: AwsError, secrets: Iterable[str]) -> AwsError:
    text = str(error)
    hidden = text
    for secret in secrets:
        if secret:
            hidden = hidden.replace(secret, "***")
    if hidden == text:
        return error
    return type(error)(hidden, code=error.code, status=error.status)
