"""Copying a Glue job run's CloudWatch log lines into the task's log, a page at a time.

A Glue run writes its driver's standard output to the stream named after the run
id in the log group ``<LogGroupName>/output`` (``/aws-glue/jobs/output`` unless
the job uses a security configuration). Each call copies what was written since
the token of the previous one and returns the token to continue from, so a
long run's lines reach the task log while it runs, each line once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sensors.aws.client import AwsService
from sensors.aws.errors import AwsError, AwsNotFound

DEFAULT_LOG_GROUP = "/aws-glue/jobs"
MAX_PAGES = 20  # per call: a flood of lines is copied over several polls, not at once


def output_log_group(job_run: Mapping[str, Any]) -> str:
    """The log group holding a run's driver output.

    Example:
        >>> output_log_group({"LogGroupName": "/aws-glue/jobs"})
        '/aws-glue/jobs/output'
        >>> output_log_group({})
        '/aws-glue/jobs/output'
    """
    base = str(job_run.get("LogGroupName") or DEFAULT_LOG_GROUP).rstrip("/")
    return f"{base}/output"


async def copy_log_lines(
    logs: AwsService, *, group: str, run_id: str, token: str | None, log: Any
) -> str | None:
    """Log every line of the run's stream written since ``token``; return the next token.

    A stream that does not exist yet (the job has not written) copies nothing;
    any other trouble reading logs is a warning, never a failure of the task.

    Example:
        >>> token = await copy_log_lines(  # doctest: +SKIP
        ...     logs, group="/aws-glue/jobs/output", run_id=run_id, token=token, log=log
        ... )
    """
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": run_id,
            "startFromHead": True,
        }
        if token is not None:
            params["nextToken"] = token
        try:
            page = await logs.call("get_log_events", **params)
        except AwsNotFound:
            return token
        except AwsError as error:
            log.warning("glue_logs_unavailable", job_run_id=run_id, error=str(error))
            return token
        events = page.get("events") or []
        for event in events:
            log.info("glue_job_log", job_run_id=run_id, line=str(event.get("message", "")).rstrip())
        following = page.get("nextForwardToken")
        if not events or following is None or following == token:
            return following or token
        token = following
    return token
