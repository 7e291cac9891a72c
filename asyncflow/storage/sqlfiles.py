"""A SQL backend's ``.sql`` files: named queries and numbered migrations.

Each SQL backend keeps two kinds of file in its package:

- ``queries.sql``: named statements, each block opened by a ``-- name: <name>``
  line, parsed once at import by :func:`load_queries`;
- ``migrations/NNNN_<what>.sql``: numbered schema migrations, applied in order by
  the backend's ``schema`` module, loaded by :func:`load_migrations`.

Files are read with :mod:`importlib.resources`, so they are found the same way in
a source checkout and in an installed wheel.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

_NAME_LINE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_MIGRATION_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One numbered schema migration, split into the statements its backend runs."""

    version: int  # the number in the file name; the schema's version after it ran
    name: str  # the file name, for error messages and reports
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
        if not strip_comments(sql):
            raise ValueError(f"query {name!r} has no statement")
        queries[name] = sql
    return queries


def strip_comments(sql: str) -> str:
    """The SQL without its whole-line ``--`` comments, stripped."""
    lines = (line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return "\n".join(lines).strip()


def load_queries(package: str) -> dict[str, str]:
    """The named statements of a backend package's ``queries.sql``."""
    return parse_queries((files(package) / "queries.sql").read_text(encoding="utf-8"))


def load_migrations(package: str, split: Callable[[str], tuple[str, ...]]) -> tuple[Migration, ...]:
    """Every migration under a backend package's ``migrations/``, ordered by version.

    Args:
        package: the backend's package, e.g. ``"asyncflow.storage.sqlite"``.
        split: turns a file's text into the statements the backend runs one by
            one (a backend whose driver runs a whole script returns it whole).

    Raises:
        ValueError: the versions are not 1, 2, 3... without gaps or repeats.
    """
    found: list[Migration] = []
    for entry in (files(package) / "migrations").iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(
                version=int(match.group(1)),
                name=entry.name,
                statements=split(entry.read_text(encoding="utf-8")),
            )
        )
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migration versions must run 1, 2, 3... without gaps: {versions}")
    return tuple(found)
