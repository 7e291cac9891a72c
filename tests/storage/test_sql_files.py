"""The SQL files of the SQL stores: named queries and numbered migrations."""

from __future__ import annotations

import pytest

from asyncflow.storage.postgres.sqlfiles import MIGRATIONS as PG_MIGRATIONS
from asyncflow.storage.postgres.sqlfiles import QUERIES as PG_QUERIES
from asyncflow.storage.sqlfiles import parse_queries, strip_comments
from asyncflow.storage.sqlite.sqlfiles import MIGRATIONS, QUERIES, split_statements


def test_named_blocks_become_queries_in_file_order() -> None:
    """Each '-- name:' block is one query; the preamble and comments are kept out of names."""
    text = "-- preamble\n\n-- name: one\nSELECT 1;\n\n-- name: two\n-- why\nSELECT 2;\n"
    assert parse_queries(text) == {"one": "SELECT 1;", "two": "-- why\nSELECT 2;"}


def test_a_query_name_used_twice_is_an_error() -> None:
    """Two blocks with the same name raise ValueError naming it."""
    with pytest.raises(ValueError, match="'one' is defined twice"):
        parse_queries("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n")


def test_a_query_without_a_statement_is_an_error() -> None:
    """A name followed only by comments raises ValueError naming it."""
    with pytest.raises(ValueError, match="'empty' has no statement"):
        parse_queries("-- name: empty\n-- nothing here\n-- name: x\nSELECT 1;\n")


def test_statements_split_on_semicolons_outside_strings_and_comments() -> None:
    """A script splits into statements; semicolons in strings and comments do not split."""
    script = "-- a; comment\nCREATE TABLE t (a TEXT DEFAULT ';');\nINSERT INTO t VALUES ('x;y');\n"
    assert split_statements(script) == (
        "-- a; comment\nCREATE TABLE t (a TEXT DEFAULT ';');",
        "INSERT INTO t VALUES ('x;y');",
    )


def test_an_incomplete_final_statement_is_an_error() -> None:
    """A script ending in a statement without its semicolon raises ValueError."""
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("SELECT 1;\nSELECT 2\n")


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    """The packaged migrations load, numbered 1..n, each with statements."""
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.statements for m in MIGRATIONS)
    assert MIGRATIONS[0].name == "0001_initial.sql"


def test_shipped_queries_are_loaded_from_the_package() -> None:
    """queries.sql is read from the installed package with every query the store uses."""
    assert {"insert_run", "insert_task_instance", "get_xcoms", "get_run_xcoms"} <= set(QUERIES)
    assert set(TRANSITIONS) <= set(QUERIES)
    assert "upsert_task_instance" not in QUERIES  # blind upserts are gone


def statement(name: str) -> str:
    """The named query without its comment lines, on one line with single spaces."""
    lines = [line for line in QUERIES[name].splitlines() if not line.lstrip().startswith("--")]
    return " ".join(" ".join(lines).split())


TRANSITIONS = [
    "start_try",
    "finish_try",
    "record_reschedule",
    "interrupt_try",
    "decide_instance",
    "recover_try",
    "delete_placeholder",
]
"""The guarded statements of task instances: each applies only on a running run."""


@pytest.mark.parametrize("name", TRANSITIONS)
def test_every_instance_transition_requires_its_run_to_be_running(name: str) -> None:
    """Each guarded statement's WHERE ends by requiring the instance's run to be running."""
    sql = statement(name)
    assert sql.startswith(("UPDATE task_instance SET", "DELETE FROM task_instance"))
    assert sql.endswith(
        "AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = task_instance.dag_id "
        "AND run.run_id = task_instance.run_id AND run.state = 'running');"
    )


@pytest.mark.parametrize(
    ("name", "guard"),
    [
        ("start_run", "AND state = 'queued';"),
        ("finish_run", "AND state = 'running';"),
        ("reopen_run", "AND state IN ('success', 'failed');"),
        ("mark_run_success", "AND state != 'success';"),
        ("delete_run", "AND state != 'running';"),
    ],
)
def test_every_run_transition_says_which_state_it_leaves(name: str, guard: str) -> None:
    """start_run, finish_run and reopen_run each update only a run in the state they expect."""
    assert statement(name).endswith(guard)


def test_the_last_migration_adds_interrupted_tries() -> None:
    """Migration 4 adds task_instance.interrupted_tries, NOT NULL with a default of 0."""
    last = MIGRATIONS[3]
    assert (last.version, last.name) == (4, "0004_interrupted_tries.sql")
    [statement] = last.statements
    assert "ALTER TABLE task_instance ADD COLUMN interrupted_tries INTEGER NOT NULL DEFAULT 0" in (
        " ".join(statement.split())
    )


# --- PostgreSQL -----------------------------------------------------------------------------


def pg_statement(name: str) -> str:
    """A PostgreSQL named query without its comment lines, on one line with single spaces."""
    return " ".join(strip_comments(PG_QUERIES[name]).split())


PG_RUN_GUARD = (
    "AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id "
    "AND run.run_id = ti.run_id AND run.state = 'running')"
)


def test_postgres_migrations_and_queries_load_from_the_package() -> None:
    """The PostgreSQL migrations are numbered from 1, each one script; its queries are loaded."""
    assert [m.version for m in PG_MIGRATIONS] == list(range(1, len(PG_MIGRATIONS) + 1))
    assert PG_MIGRATIONS[0].name == "0001_initial.sql"
    assert all(len(m.statements) == 1 for m in PG_MIGRATIONS)
    assert set(TRANSITIONS) <= set(PG_QUERIES)


@pytest.mark.parametrize("name", [t for t in TRANSITIONS if t != "delete_placeholder"])
def test_every_postgres_transition_is_guarded_and_returns_what_applied(name: str) -> None:
    """Each array-valued transition requires a running run and returns the positions it applied."""
    sql = pg_statement(name)
    assert sql.startswith("UPDATE task_instance AS ti SET")
    assert "WITH ORDINALITY" in sql
    assert sql.endswith(f"{PG_RUN_GUARD} RETURNING v.position;")


def test_the_postgres_placeholder_delete_requires_a_running_run() -> None:
    """A mapped task's placeholder is deleted only while undecided on a running run."""
    assert pg_statement("delete_placeholder").endswith(f"AND ti.state IS NULL {PG_RUN_GUARD};")


@pytest.mark.parametrize(
    ("name", "guard"),
    [
        ("start_run", "AND state = 'queued';"),
        ("finish_run", "AND state = 'running';"),
        ("reopen_run", "AND state IN ('success', 'failed');"),
        ("mark_run_success", "AND state <> 'success';"),
        ("delete_run", "AND state <> 'running';"),
    ],
)
def test_every_postgres_run_transition_says_which_state_it_leaves(name: str, guard: str) -> None:
    """start_run, finish_run and reopen_run on PostgreSQL each expect the state SQLite does."""
    assert pg_statement(name).endswith(guard)
