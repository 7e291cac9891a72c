-- What the store remembers about a DAG between processes: whether it is paused.
CREATE TABLE dag (
    dag_id TEXT PRIMARY KEY,
    is_paused INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
