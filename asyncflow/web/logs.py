"""Reading a try's log file: all of it, its last lines, or following it as it grows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from asyncflow.records import TaskInstanceRecord
from asyncflow.states import TaskState
from asyncflow.task_logs import try_log_path
from asyncflow.web.context import WebContext
from asyncflow.web.deps import find_instance
from asyncflow.web.errors import ApiError

FOLLOW_INTERVAL = 0.5
"""Seconds between looks at a followed log file and its try's state."""

_FINISHED = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED, TaskState.UPSTREAM_FAILED}
)


def log_path(context: WebContext, ti: TaskInstanceRecord, try_number: int) -> Path:
    """The file of try ``try_number`` of ``ti``.

    Raises:
        ApiError: 404 when the instance has had no such try.
    """
    if try_number < 1 or try_number > ti.try_number:
        raise ApiError(
            404,
            f"{ti.task_id} has had {ti.try_number} tries in {ti.run_id}, so no try {try_number}",
        )
    return try_log_path(
        context.logs_folder, ti.dag_id, ti.run_id, ti.task_id, ti.map_index, try_number
    )


def read_log(path: Path, tail: int | None) -> str:
    """The file's text (its last ``tail`` lines), empty when the try wrote nothing."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    if tail is None:
        return text
    return "".join(text.splitlines(keepends=True)[-tail:]) if tail else ""


def try_over(ti: TaskInstanceRecord, number: int) -> bool:
    """Whether try ``number`` has ended (or never will, the instance being finished)."""
    if ti.state in _FINISHED or ti.try_number > number:
        return True
    return ti.try_number == number and ti.state is TaskState.UP_FOR_RETRY


async def follow(
    context: WebContext, ti: TaskInstanceRecord, number: int, path: Path
) -> AsyncIterator[str]:
    """Server-sent events: each new complete line as ``data:``, then ``event: end``."""
    offset = 0
    while True:
        chunk, offset = _complete_lines(path, offset)
        for line in chunk.splitlines():
            yield f"data: {line}\n\n"
        ti = await find_instance(context, ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        if try_over(ti, number):
            rest, offset = _complete_lines(path, offset, whole=True)
            for line in rest.splitlines():
                yield f"data: {line}\n\n"
            yield f"event: end\ndata: {ti.state or 'none'}\n\n"
            return
        await anyio.sleep(FOLLOW_INTERVAL)


def _complete_lines(path: Path, offset: int, *, whole: bool = False) -> tuple[str, int]:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        return "", offset
    if not whole:
        data = data[: data.rfind(b"\n") + 1]
    return data.decode("utf-8", errors="replace"), offset + len(data)
