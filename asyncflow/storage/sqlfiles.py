"""The SQLite store's SQL, read from the ``.sql`` files shipped in this package.

Two kinds of file live next to this module:

- ``queries.sql``: named statements, each block opened by a ``-- name: <name>``
  line, parsed once at import into :data:`QUERIES`;
- ``migrations/NNNN_<what>.sql``: numbered schema migrations, applied in order by
  :mod:`asyncflow.storage.sqlite.schema`, loaded into :data:`MIGRATIONS`.

Files are read with :mod:`importlib.resources`, so they are found the same way in
a source checkout and in an installed wheel.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib.resources import files

_NAME_LINE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_MIGRATION_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One numbered schema migration, split into its statements."""

    version: int  # the number in the file name; PRAGMA user_version after it ran
    name: str  # the file name, for error messages
    statements: tuple[str, ...]


def parse_queries(text: str) -> dict[str, str]:
    """Split the text of a queries file into its named statements.

    Args:
        text: SQL where every statement follows a ``-- name: <name>`` line; text
            before the first name line is a preamble and is ignored.

    Returns:
        The statements by name, in file order.

    Raises:
        ValueError: a name appears twice or names no statement.
    """
    parts = _NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = body.strip()
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        if not _strip_comments(sql):
            raise ValueError(f"query {name!r} has no statement")
        queries[name] = sql
    return queries


def split_statements(text: str) -> tuple[str, ...]:
    """Split a SQL script into complete statements, respecting quotes and comments.

    Raises:
        ValueError: the script ends with an incomplete statement.
    """
    statements: list[str] = []
    buffer = ""
    for line in text.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if _strip_comments(buffer):
        raise ValueError(f"incomplete SQL statement at the end: {buffer.strip()[:60]!r}")
    return tuple(statements)


def _strip_comments(sql: str) -> str:
    lines = (line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return "\n".join(lines).strip()


def load_queries() -> dict[str, str]:
    """The named statements of ``queries.sql``."""
    return parse_queries((files(__package__) / "queries.sql").read_text(encoding="utf-8"))


def load_migrations() -> tuple[Migration, ...]:
    """Every migration under ``migrations/``, ordered by version.

    Raises:
        ValueError: the versions are not 1, 2, 3... without gaps or repeats.
    """
    found: list[Migration] = []
    for entry in (files(__package__) / "migrations").iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(
                version=int(match.group(1)),
                name=entry.name,
                statements=split_statements(entry.read_text(encoding="utf-8")),
            )
        )
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migration versions must run 1, 2, 3... without gaps: {versions}")
    return tuple(found)


QUERIES: dict[str, str] = load_queries()
"""The named statements of ``queries.sql``, parsed once at import."""

MIGRATIONS: tuple[Migration, ...] = load_migrations()
"""The schema migrations, in the order they are applied."""
