-- The first schema: DAG runs, their task instances and XCom values.
--
-- Datetimes are ISO-8601 UTC text with fixed microseconds
-- ("2024-05-01T12:00:00.000000+00:00"), so text order is time order and
-- indexes on them serve range queries. conf and XCom values are JSON text.

CREATE TABLE dag_run (
    dag_id              TEXT NOT NULL,
    run_id              TEXT NOT NULL,
    run_type            TEXT NOT NULL,
    state               TEXT NOT NULL,
    logical_date        TEXT NOT NULL,
    data_interval_start TEXT,
    data_interval_end   TEXT,
    conf                TEXT NOT NULL DEFAULT '{}',
    queued_at           TEXT NOT NULL,
    start_date          TEXT,
    end_date            TEXT,
    PRIMARY KEY (dag_id, run_id)
);

-- find_runs(run_id): a run_id is looked up without its dag_id.
CREATE INDEX dag_run_by_run_id ON dag_run (run_id);
-- list_runs(): newest first, optionally by DAG and/or state.
CREATE INDEX dag_run_by_logical_date ON dag_run (logical_date);
CREATE INDEX dag_run_by_dag_logical_date ON dag_run (dag_id, logical_date);
CREATE INDEX dag_run_by_state_logical_date ON dag_run (state, logical_date);

-- Rows are small and the key is the lookup, so no rowid is needed.
CREATE TABLE task_instance (
    dag_id           TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    task_id          TEXT NOT NULL,
    map_index        INTEGER NOT NULL,
    state            TEXT,
    try_number       INTEGER NOT NULL DEFAULT 0,
    start_date       TEXT,
    end_date         TEXT,
    next_attempt_at  TEXT,
    next_poke_at     TEXT,
    first_poke_at    TEXT,
    poke_count       INTEGER NOT NULL DEFAULT 0,
    owner            TEXT,
    lease_expires_at TEXT,
    error            TEXT,
    PRIMARY KEY (dag_id, run_id, task_id, map_index),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Instances in a given state (e.g. what was running when a process died).
CREATE INDEX task_instance_by_state ON task_instance (state);
-- The timers: which up_for_retry / up_for_reschedule instance is due first.
-- Partial, so only waiting instances are indexed and the far more common
-- writes of other states skip them; a query uses one only when its WHERE says
-- the same literal state (e.g. "WHERE state = 'up_for_retry'").
CREATE INDEX task_instance_retry_due ON task_instance (next_attempt_at)
    WHERE state = 'up_for_retry';
CREATE INDEX task_instance_poke_due ON task_instance (next_poke_at)
    WHERE state = 'up_for_reschedule';

-- XCom rows can be large (up to the XCom size limit), so they keep a rowid.
-- get_xcoms(task, key) walks the primary key prefix (dag_id, run_id, task_id)
-- in map_index order; a task has few keys, so no extra index pays for itself.
CREATE TABLE xcom (
    dag_id    TEXT NOT NULL,
    run_id    TEXT NOT NULL,
    task_id   TEXT NOT NULL,
    map_index INTEGER NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, key),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
);
