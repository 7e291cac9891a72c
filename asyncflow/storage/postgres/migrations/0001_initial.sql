-- The first schema of the PostgreSQL store: DAG runs, their task instances,
-- XCom values, paused DAGs and the engines sharing the database.
--
-- Times are timestamptz (microseconds, what the records hold). conf and XCom
-- values are json, not jsonb: json keeps the text exactly as asyncflow wrote
-- it (jsonb reorders a dict's keys, turns -0.0 into 0 and refuses "\u0000"
-- inside a string), and nothing queries inside them. Identifiers are text in
-- the "C" collation: they sort by code point, as the other stores sort them
-- (and compare faster). Counters and map indexes are bigint, as wide as
-- SQLite's integers.

CREATE TABLE dag_run (
    dag_id              text COLLATE "C" NOT NULL,
    run_id              text COLLATE "C" NOT NULL,
    run_type            text NOT NULL,
    state               text NOT NULL,
    logical_date        timestamptz NOT NULL,
    data_interval_start timestamptz,
    data_interval_end   timestamptz,
    conf                json NOT NULL DEFAULT '{}',
    queued_at           timestamptz NOT NULL,
    start_date          timestamptz,
    end_date            timestamptz,
    PRIMARY KEY (dag_id, run_id)
);

-- find_runs(run_id): a run_id is looked up without its dag_id.
CREATE INDEX dag_run_by_run_id ON dag_run (run_id);
-- list_runs(): newest first, optionally by DAG and/or state.
CREATE INDEX dag_run_by_logical_date ON dag_run (logical_date);
CREATE INDEX dag_run_by_dag_logical_date ON dag_run (dag_id, logical_date);
CREATE INDEX dag_run_by_state_logical_date ON dag_run (state, logical_date);

-- No secondary index: instances are read by key, a run at a time, and each
-- index would be written again on every poke of a reschedule-mode sensor.
-- fillfactor leaves room on each page for heap-only updates (no index writes)
-- of the state, times and owner that change on every try and poke.
CREATE TABLE task_instance (
    dag_id            text COLLATE "C" NOT NULL,
    run_id            text COLLATE "C" NOT NULL,
    task_id           text COLLATE "C" NOT NULL,
    map_index         bigint NOT NULL,
    state             text,
    try_number        bigint NOT NULL DEFAULT 0,
    start_date        timestamptz,
    end_date          timestamptz,
    next_attempt_at   timestamptz,
    next_poke_at      timestamptz,
    first_poke_at     timestamptz,
    poke_count        bigint NOT NULL DEFAULT 0,
    owner             text,
    lease_expires_at  timestamptz,
    error             text,
    interrupted_tries bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (dag_id, run_id, task_id, map_index),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
) WITH (fillfactor = 80);

CREATE TABLE xcom (
    dag_id    text COLLATE "C" NOT NULL,
    run_id    text COLLATE "C" NOT NULL,
    task_id   text COLLATE "C" NOT NULL,
    map_index bigint NOT NULL,
    key       text COLLATE "C" NOT NULL,
    value     json NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, key),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
);

-- What the store remembers about a DAG between processes: whether it is paused.
CREATE TABLE dag (
    dag_id     text COLLATE "C" PRIMARY KEY,
    is_paused  boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL
);

-- The engines sharing this database, one row each while it runs. An engine
-- renews its lease by heartbeat; a row whose lease_expires_at has passed (by
-- the server's clock) is an engine presumed dead, whose work others may take.
CREATE TABLE engine (
    id               text COLLATE "C" PRIMARY KEY,  -- EngineIdentity.id, what task instances name as owner
    host             text NOT NULL,
    pid              bigint NOT NULL,
    started_at       timestamptz NOT NULL,
    heartbeat_at     timestamptz NOT NULL,
    lease_expires_at timestamptz NOT NULL
);

CREATE INDEX engine_by_lease_expires_at ON engine (lease_expires_at);
