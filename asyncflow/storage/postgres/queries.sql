-- Named queries of the PostgreSQL store, loaded once at import by
-- asyncflow.storage.sqlfiles. Each block starts with "-- name: <name>".
-- Parameters are positional ($1, $2, ...) in the order written here; the row
-- builders in asyncflow.storage.postgres.codec produce them in that order.

-- --- schema ------------------------------------------------------------------------

-- name: current_schema
SELECT current_schema();

-- name: search_path
SHOW search_path;

-- name: migration_table_exists
SELECT to_regclass('asyncflow_migration') IS NOT NULL;

-- name: lock_migrations
-- Two processes opening a new database at once: the second waits here, then
-- finds the migrations applied. Keyed by schema, so that stores in other
-- schemas of one database do not wait for each other.
SELECT pg_advisory_xact_lock(hashtext('asyncflow.migrate:' || current_schema()));

-- name: create_migration_table
CREATE TABLE IF NOT EXISTS asyncflow_migration (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- name: schema_version
SELECT coalesce(max(version), 0) FROM asyncflow_migration;

-- name: record_migration
INSERT INTO asyncflow_migration (version, name) VALUES ($1, $2);

-- name: drop_tables
DROP TABLE IF EXISTS api_token, web_user, xcom, task_instance, dag_run, dag, engine,
    asyncflow_migration;
DROP FUNCTION IF EXISTS asyncflow_instance_notices, asyncflow_run_notices, asyncflow_channel;

-- --- engines -----------------------------------------------------------------------

-- name: register_engine
-- Leases are kept by the server's clock, the one clock every host shares.
INSERT INTO engine (id, host, pid, started_at, heartbeat_at, lease_expires_at)
VALUES ($1, $2, $3, $4, statement_timestamp(), statement_timestamp() + make_interval(secs => $5))
ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,
                               lease_expires_at = excluded.lease_expires_at
RETURNING lease_expires_at;

-- name: lock_engine_registry
-- Engines acquiring at once register one after the other (the lock ends with the transaction).
SELECT pg_advisory_xact_lock(hashtext('asyncflow.engine'));

-- name: drop_expired_engines
-- An engine past its lease is presumed dead: its row goes, so a late heartbeat of
-- it finds none (LeaseLost) instead of renewing.
DELETE FROM engine WHERE id <> $1 AND lease_expires_at <= statement_timestamp();

-- name: live_engine_other_than
SELECT id, host, pid, started_at FROM engine
WHERE id <> $1 AND lease_expires_at > statement_timestamp()
ORDER BY started_at, id LIMIT 1;

-- name: renew_lease
-- The row is the lease: an engine that took over another's work deletes it,
-- so a renewal finding none learns that its lease was lost.
UPDATE engine SET heartbeat_at = statement_timestamp(),
                  lease_expires_at = statement_timestamp() + make_interval(secs => $2)
WHERE id = $1
RETURNING lease_expires_at;

-- name: release_engine
DELETE FROM engine WHERE id = $1;

-- name: list_engines
SELECT id, host, pid, started_at, heartbeat_at, lease_expires_at,
       lease_expires_at > clock_timestamp() AS live
FROM engine ORDER BY started_at, id;

-- --- runs --------------------------------------------------------------------------

-- name: insert_run
INSERT INTO dag_run (
    dag_id, run_id, run_type, state, logical_date, data_interval_start,
    data_interval_end, conf, queued_at, start_date, end_date, driver
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
          CASE WHEN $4 = 'running' THEN $12 END)
ON CONFLICT (dag_id, run_id) DO NOTHING;

-- name: start_run
-- The engine that starts a run drives it (NULL: a process that drives no runs).
UPDATE dag_run SET state = 'running', start_date = $3, driver = $4
WHERE dag_id = $1 AND run_id = $2 AND state = 'queued';

-- name: lock_active_runs
-- Runs of one DAG start one after the other across engines, so that its
-- max_active_runs holds (the lock ends with the transaction).
SELECT pg_advisory_xact_lock(hashtext('asyncflow.runs:' || current_schema() || ':' || $1));

-- name: start_run_within
-- As start_run, while fewer than $5 runs of the DAG are running.
UPDATE dag_run SET state = 'running', start_date = $3, driver = $4
WHERE dag_id = $1 AND run_id = $2 AND state = 'queued'
  AND (SELECT count(*) FROM dag_run WHERE dag_id = $1 AND state = 'running') < $5;

-- name: finish_run
UPDATE dag_run SET state = $3, end_date = $4
WHERE dag_id = $1 AND run_id = $2 AND state = 'running';

-- name: stop_unfinished
-- A run stopped early (its dagrun_timeout passed): in the transaction that
-- ends it, a running try fails with the given error and every other
-- unfinished instance is skipped. SET reads the row as it was, so each CASE
-- sees the old state.
UPDATE task_instance SET
    state = CASE WHEN state = 'running' THEN 'failed' ELSE 'skipped' END,
    start_date = CASE WHEN state = 'running' THEN start_date ELSE COALESCE(start_date, $3) END,
    end_date = $3,
    owner = NULL,
    lease_expires_at = NULL,
    error = CASE WHEN state = 'running' THEN $4 ELSE error END
WHERE dag_id = $1 AND run_id = $2
  AND (state IS NULL OR state NOT IN ('success', 'failed', 'skipped', 'upstream_failed'));

-- name: reopen_run
-- A finished run is queued to run again (a clear, or a state set by hand); the
-- engine that starts it drives it.
UPDATE dag_run SET state = 'queued', end_date = NULL, driver = NULL
WHERE dag_id = $1 AND run_id = $2 AND state IN ('success', 'failed');

-- name: notify_run_queued
SELECT pg_notify(asyncflow_channel('asyncflow_runs'), $1);

-- name: clear_instances
-- Instances wait for a new try: their try numbers kept, the tries so far no
-- longer counted against retries. $3/$4: task ids and map indexes, pairwise.
UPDATE task_instance AS ti SET state = NULL, end_date = NULL, next_attempt_at = NULL,
    next_poke_at = NULL, first_poke_at = NULL, poke_count = 0, owner = NULL,
    lease_expires_at = NULL, error = NULL, interrupted_tries = ti.try_number
FROM unnest($3::text[], $4::bigint[]) AS v(task_id, map_index)
WHERE ti.dag_id = $1 AND ti.run_id = $2 AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index;

-- name: delete_instances_xcoms
DELETE FROM xcom AS x USING unnest($3::text[], $4::bigint[]) AS v(task_id, map_index)
WHERE x.dag_id = $1 AND x.run_id = $2 AND x.task_id = v.task_id
  AND x.map_index = v.map_index;

-- name: delete_tasks_instances
-- Mapped tasks expand again: every instance goes, a placeholder is inserted after.
DELETE FROM task_instance WHERE dag_id = $1 AND run_id = $2 AND task_id = ANY($3::text[]);

-- name: delete_tasks_xcoms
DELETE FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = ANY($3::text[]);

-- name: mark_instances
-- Instances set to a state by hand at $3; one that never started starts then too.
-- $4/$5/$6: task ids, map indexes and states, pairwise.
UPDATE task_instance AS ti SET state = v.state, start_date = COALESCE(ti.start_date, $3),
    end_date = $3, next_attempt_at = NULL, next_poke_at = NULL, owner = NULL,
    lease_expires_at = NULL,
    error = CASE WHEN v.state = 'success' THEN NULL ELSE ti.error END
FROM unnest($4::text[], $5::bigint[], $6::text[]) AS v(task_id, map_index, state)
WHERE ti.dag_id = $1 AND ti.run_id = $2 AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index;

-- name: mark_run_success
UPDATE dag_run SET state = 'success', end_date = COALESCE(end_date, $3)
WHERE dag_id = $1 AND run_id = $2 AND state <> 'success';

-- name: mark_instances_success
-- A run marked success by hand: every instance that is not ends successful at $3.
UPDATE task_instance SET state = 'success', start_date = COALESCE(start_date, $3),
    end_date = $3, next_attempt_at = NULL, next_poke_at = NULL, owner = NULL,
    lease_expires_at = NULL, error = NULL
WHERE dag_id = $1 AND run_id = $2 AND (state IS NULL OR state <> 'success');

-- name: delete_run
-- Its task instances and XCom go with it (ON DELETE CASCADE).
DELETE FROM dag_run WHERE dag_id = $1 AND run_id = $2 AND state <> 'running';

-- name: get_run
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run WHERE dag_id = $1 AND run_id = $2;

-- name: find_runs
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run WHERE run_id = $1 ORDER BY dag_id;

-- name: list_runs
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run ORDER BY logical_date DESC, dag_id, run_id;

-- name: list_runs_of_dag
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run WHERE dag_id = $1 ORDER BY logical_date DESC, run_id;

-- name: list_runs_in_states
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run WHERE state = ANY($1::text[])
ORDER BY logical_date DESC, dag_id, run_id;

-- name: list_runs_of_dag_in_states
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run WHERE dag_id = $1 AND state = ANY($2::text[])
ORDER BY logical_date DESC, run_id;

-- --- task instances ------------------------------------------------------------------

-- name: insert_task_instances
-- Every instance of a call in one statement: one array per column.
INSERT INTO task_instance (
    dag_id, run_id, task_id, map_index, state, try_number, start_date, end_date,
    next_attempt_at, next_poke_at, first_poke_at, poke_count, owner,
    lease_expires_at, error, interrupted_tries
)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[],
    $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[],
    $11::timestamptz[], $12::bigint[], $13::text[], $14::timestamptz[], $15::text[],
    $16::bigint[]
);

-- The transitions of a task instance (asyncflow.storage.protocol). Each takes
-- a batch as one array per column, the instance's key first, and updates the
-- rows whose WHERE holds, ending with the run still running; RETURNING names
-- the positions (1-based) that applied, so one statement tells which writes
-- were stale. A batch never names one instance twice (the store splits it).

-- name: start_try
-- A try starts from a state that waits for one, after the try before it.
UPDATE task_instance AS ti SET
    state = 'running',
    try_number = v.try_number,
    start_date = v.start_date,
    end_date = NULL,
    next_attempt_at = NULL,
    first_poke_at = v.first_poke_at,
    owner = v.owner,
    lease_expires_at = v.lease_expires_at
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
    $7::timestamptz[], $8::timestamptz[], $9::timestamptz[]
) WITH ORDINALITY AS v (
    dag_id, run_id, task_id, map_index, try_number, owner,
    start_date, first_poke_at, lease_expires_at, position
)
WHERE ti.dag_id = v.dag_id AND ti.run_id = v.run_id AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index
  AND ti.try_number = v.try_number - 1
  AND (ti.state IS NULL OR ti.state IN ('scheduled', 'queued', 'up_for_retry', 'up_for_reschedule'))
  AND (ti.state IS DISTINCT FROM 'queued' OR ti.owner IS NULL OR ti.owner = v.owner)
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id
              AND run.run_id = ti.run_id AND run.state = 'running')
RETURNING v.position;

-- name: finish_try
UPDATE task_instance AS ti SET
    state = v.state,
    end_date = v.end_date,
    next_attempt_at = v.next_attempt_at,
    next_poke_at = v.next_poke_at,
    first_poke_at = v.first_poke_at,
    poke_count = v.poke_count,
    owner = NULL,
    lease_expires_at = NULL,
    error = v.error
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
    $7::text[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[],
    $11::timestamptz[], $12::bigint[], $13::text[]
) WITH ORDINALITY AS v (
    dag_id, run_id, task_id, map_index, try_number, owner,
    state, end_date, next_attempt_at, next_poke_at, first_poke_at, poke_count, error, position
)
WHERE ti.dag_id = v.dag_id AND ti.run_id = v.run_id AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index
  AND ti.try_number = v.try_number
  AND (ti.state IN ('running', 'up_for_reschedule') AND (ti.owner IS NULL OR ti.owner = v.owner)
       OR ti.state = 'queued' AND ti.owner = v.owner)
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id
              AND run.run_id = ti.run_id AND run.state = 'running')
RETURNING v.position;

-- name: record_reschedule
-- A reschedule-mode sensor's poke that did not finish: only what a poke
-- changes. The try's own columns (try_number, start_date, next_attempt_at)
-- keep their values.
UPDATE task_instance AS ti SET
    state = 'up_for_reschedule',
    end_date = v.end_date,
    next_poke_at = v.next_poke_at,
    first_poke_at = v.first_poke_at,
    poke_count = v.poke_count,
    owner = NULL,
    lease_expires_at = NULL,
    error = v.error
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
    $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::bigint[], $11::text[]
) WITH ORDINALITY AS v (
    dag_id, run_id, task_id, map_index, try_number, owner,
    end_date, next_poke_at, first_poke_at, poke_count, error, position
)
WHERE ti.dag_id = v.dag_id AND ti.run_id = v.run_id AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index
  AND ti.try_number = v.try_number
  AND (ti.state IN ('running', 'up_for_reschedule') AND (ti.owner IS NULL OR ti.owner = v.owner)
       OR ti.state = 'queued' AND ti.owner = v.owner)
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id
              AND run.run_id = ti.run_id AND run.state = 'running')
RETURNING v.position;

-- name: interrupt_try
UPDATE task_instance AS ti SET
    state = v.state,
    end_date = v.end_date,
    owner = NULL,
    lease_expires_at = NULL,
    error = v.error,
    interrupted_tries = v.interrupted_tries
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
    $7::text[], $8::timestamptz[], $9::text[], $10::bigint[]
) WITH ORDINALITY AS v (
    dag_id, run_id, task_id, map_index, try_number, owner,
    state, end_date, error, interrupted_tries, position
)
WHERE ti.dag_id = v.dag_id AND ti.run_id = v.run_id AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index
  AND ti.try_number = v.try_number
  AND (ti.state IN ('running', 'up_for_reschedule') AND (ti.owner IS NULL OR ti.owner = v.owner)
       OR ti.state = 'queued' AND ti.owner = v.owner)
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id
              AND run.run_id = ti.run_id AND run.state = 'running')
RETURNING v.position;

-- name: decide_instance
-- An instance that never ran ends as its upstream decided.
UPDATE task_instance AS ti SET
    state = v.state,
    start_date = v.start_date,
    end_date = v.end_date,
    error = v.error
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::bigint[],
    $5::text[], $6::timestamptz[], $7::timestamptz[], $8::text[]
) WITH ORDINALITY AS v (
    dag_id, run_id, task_id, map_index, state, start_date, end_date, error, position
)
WHERE ti.dag_id = v.dag_id AND ti.run_id = v.run_id AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index
  AND ti.state IS NULL
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id
              AND run.run_id = ti.run_id AND run.state = 'running')
RETURNING v.position;

-- name: recover_try
-- A try that a stopped engine left in flight, still exactly as it was read.
UPDATE task_instance AS ti SET
    state = v.state,
    end_date = v.end_date,
    next_attempt_at = v.next_attempt_at,
    next_poke_at = v.next_poke_at,
    owner = NULL,
    lease_expires_at = NULL,
    error = v.error
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
    $7::bigint[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[],
    $12::text[]
) WITH ORDINALITY AS v (
    dag_id, run_id, task_id, map_index, read_state, read_owner, read_try_number,
    state, end_date, next_attempt_at, next_poke_at, error, position
)
WHERE ti.dag_id = v.dag_id AND ti.run_id = v.run_id AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index
  AND ti.state IS NOT DISTINCT FROM v.read_state AND ti.owner IS NOT DISTINCT FROM v.read_owner
  AND ti.try_number = v.read_try_number
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id
              AND run.run_id = ti.run_id AND run.state = 'running')
RETURNING v.position;

-- name: delete_placeholder
-- A mapped task expands: its placeholder goes, if still undecided on a running run.
DELETE FROM task_instance AS ti
WHERE ti.dag_id = $1 AND ti.run_id = $2 AND ti.task_id = $3 AND ti.map_index = -1
  AND ti.state IS NULL
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id
              AND run.run_id = ti.run_id AND run.state = 'running');

-- name: get_task_instances
SELECT dag_id, run_id, task_id, map_index, state, try_number, start_date, end_date,
       next_attempt_at, next_poke_at, first_poke_at, poke_count, owner,
       lease_expires_at, error, interrupted_tries
FROM task_instance WHERE dag_id = $1 AND run_id = $2 ORDER BY task_id, map_index;

-- --- XCom and DAGs -------------------------------------------------------------------

-- name: upsert_xcom
INSERT INTO xcom (dag_id, run_id, task_id, map_index, key, value)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (dag_id, run_id, task_id, map_index, key) DO UPDATE SET value = excluded.value;

-- name: get_xcom
SELECT dag_id, run_id, task_id, map_index, key, value
FROM xcom
WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND key = $4 AND map_index = $5;

-- name: get_xcoms
SELECT dag_id, run_id, task_id, map_index, key, value
FROM xcom
WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND key = $4
ORDER BY map_index;

-- name: delete_run_xcoms
DELETE FROM xcom WHERE dag_id = $1 AND run_id = $2;

-- name: get_run_xcoms
SELECT dag_id, run_id, task_id, map_index, key, value
FROM xcom
WHERE dag_id = $1 AND run_id = $2
ORDER BY task_id, map_index, key;

-- name: set_dag_paused
INSERT INTO dag (dag_id, is_paused, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (dag_id) DO UPDATE SET is_paused = excluded.is_paused,
                                   updated_at = excluded.updated_at;

-- name: get_paused_dags
SELECT dag_id FROM dag WHERE is_paused ORDER BY dag_id;

-- --- sharing work among engines (migrations/0002_sharing.sql) -----------------------

-- name: offer_instances
-- The driver of a run offers instances for a try: 'scheduled', with their queue,
-- pool and priority, in a global order. Only an instance that waits for a try
-- (never run, up for retry, up for reschedule) in the try the driver knows.
UPDATE task_instance AS ti SET
    state = 'scheduled',
    queue = v.queue,
    pool = v.pool,
    pool_slots = v.pool_slots,
    priority = v.priority,
    dag_limit = v.dag_limit,
    offered_seq = nextval('task_instance_offer_seq'),
    owner = NULL
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
    $7::text[], $8::bigint[], $9::bigint[], $10::bigint[]
) WITH ORDINALITY AS v (
    dag_id, run_id, task_id, map_index, try_number, queue, pool, pool_slots, priority,
    dag_limit, position
)
WHERE ti.dag_id = v.dag_id AND ti.run_id = v.run_id AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index
  AND ti.try_number = v.try_number
  AND (ti.state IS NULL OR ti.state IN ('up_for_retry', 'up_for_reschedule'))
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id
              AND run.run_id = ti.run_id AND run.state = 'running')
RETURNING v.position;

-- name: claim_instances
-- An engine claims offered instances outside any pool, best first; rows another
-- engine is claiming at this moment are skipped, not waited for.
WITH picked AS (
    SELECT dag_id, run_id, task_id, map_index FROM task_instance
    WHERE state = 'scheduled' AND queue = ANY($2::text[]) AND pool IS NULL AND dag_limit IS NULL
    ORDER BY priority DESC, offered_seq
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE task_instance AS ti SET state = 'queued', owner = $1
FROM picked
WHERE ti.dag_id = picked.dag_id AND ti.run_id = picked.run_id
  AND ti.task_id = picked.task_id AND ti.map_index = picked.map_index
RETURNING ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.state, ti.try_number,
          ti.start_date, ti.end_date, ti.next_attempt_at, ti.next_poke_at, ti.first_poke_at,
          ti.poke_count, ti.owner, ti.lease_expires_at, ti.error, ti.interrupted_tries;

-- name: lock_pool
-- Claims in one pool, across every engine, take turns: its slots are counted,
-- then taken, with no other claim in between.
SELECT pg_advisory_xact_lock(hashtext('asyncflow.pool:' || current_schema() || ':' || $1));

-- name: pool_slots_in_use
SELECT coalesce(sum(pool_slots), 0) FROM task_instance
WHERE pool = $1 AND state IN ('queued', 'running');

-- name: pooled_offers
SELECT dag_id, run_id, task_id, map_index, pool, pool_slots FROM task_instance
WHERE state = 'scheduled' AND pool = $2 AND dag_limit IS NULL AND queue = ANY($1::text[])
ORDER BY priority DESC, offered_seq
LIMIT $3
FOR UPDATE SKIP LOCKED;

-- name: limited_dags
-- The DAGs under a max_active_tasks with instances offered in these queues, and their limit.
SELECT DISTINCT dag_id, dag_limit FROM task_instance
WHERE state = 'scheduled' AND dag_limit IS NOT NULL AND queue = ANY($1::text[]);

-- name: lock_dag
SELECT pg_advisory_xact_lock(hashtext('asyncflow.dag:' || current_schema() || ':' || $1));

-- name: dag_tasks_in_flight
SELECT count(*) FROM task_instance
WHERE dag_id = $1 AND dag_limit IS NOT NULL AND state IN ('queued', 'running');

-- name: limited_offers
SELECT dag_id, run_id, task_id, map_index, pool, pool_slots FROM task_instance
WHERE state = 'scheduled' AND dag_limit IS NOT NULL AND dag_id = $2 AND queue = ANY($1::text[])
ORDER BY priority DESC, offered_seq
LIMIT $3
FOR UPDATE SKIP LOCKED;

-- name: claim_by_key
UPDATE task_instance AS ti SET state = 'queued', owner = $1
FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS v (dag_id, run_id, task_id, map_index)
WHERE ti.dag_id = v.dag_id AND ti.run_id = v.run_id AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index AND ti.state = 'scheduled'
RETURNING ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.state, ti.try_number,
          ti.start_date, ti.end_date, ti.next_attempt_at, ti.next_poke_at, ti.first_poke_at,
          ti.poke_count, ti.owner, ti.lease_expires_at, ti.error, ti.interrupted_tries;

-- name: unclaim_instances
-- A claim given back (an engine without the DAG): offered again, in its place.
UPDATE task_instance AS ti SET state = 'scheduled', owner = NULL
FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS v (dag_id, run_id, task_id, map_index)
WHERE ti.dag_id = v.dag_id AND ti.run_id = v.run_id AND ti.task_id = v.task_id
  AND ti.map_index = v.map_index AND ti.state = 'queued' AND ti.owner = $1;

-- name: instances_by_key
-- Instances whose try ended (read by their run's driver on a notice), each with
-- the task ids a successful branch skipped.
SELECT ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.state, ti.try_number,
       ti.start_date, ti.end_date, ti.next_attempt_at, ti.next_poke_at, ti.first_poke_at,
       ti.poke_count, ti.owner, ti.lease_expires_at, ti.error, ti.interrupted_tries,
       x.value AS skipped
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v (dag_id, run_id, task_id, map_index)
JOIN task_instance AS ti ON ti.dag_id = v.dag_id AND ti.run_id = v.run_id
     AND ti.task_id = v.task_id AND ti.map_index = v.map_index
LEFT JOIN xcom AS x ON ti.state = 'success' AND x.dag_id = ti.dag_id AND x.run_id = ti.run_id
     AND x.task_id = ti.task_id AND x.map_index = ti.map_index AND x.key = $5;

-- name: orphaned_instances
-- Tries claimed or running in an engine that has no lease any more (it died),
-- on runs still running.
SELECT ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.state, ti.try_number,
       ti.start_date, ti.end_date, ti.next_attempt_at, ti.next_poke_at, ti.first_poke_at,
       ti.poke_count, ti.owner, ti.lease_expires_at, ti.error, ti.interrupted_tries
FROM task_instance AS ti
WHERE ti.state IN ('queued', 'running') AND ti.owner IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM engine AS e WHERE e.id = ti.owner)
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = ti.dag_id
              AND run.run_id = ti.run_id AND run.state = 'running')
ORDER BY ti.dag_id, ti.run_id, ti.task_id, ti.map_index;

-- name: adopt_runs
-- Running runs of the given DAGs whose driver has no lease (it died, or never
-- drove them) are driven by this engine from now on.
UPDATE dag_run AS run SET driver = $1
WHERE run.state = 'running' AND run.dag_id = ANY($2::text[])
  AND (run.driver IS NULL OR NOT EXISTS (SELECT 1 FROM engine AS e WHERE e.id = run.driver))
RETURNING run.dag_id, run.run_id, run.run_type, run.state, run.logical_date,
          run.data_interval_start, run.data_interval_end, run.conf, run.queued_at,
          run.start_date, run.end_date;

-- name: drop_expired_engines_returning
-- Engines past their lease, presumed dead: their rows go (a late heartbeat of one
-- finds none), and their ids say whose work to take over.
DELETE FROM engine WHERE id <> $1 AND lease_expires_at <= statement_timestamp() RETURNING id;

-- name: next_lease_expiry
-- When the first lease of another engine expires, if none is renewed before.
SELECT min(lease_expires_at) - statement_timestamp() FROM engine WHERE id <> $1;

-- name: notify
SELECT pg_notify(asyncflow_channel($1), $2);

-- name: channel
-- A channel's name in this schema (see migrations/0002_sharing.sql).
SELECT asyncflow_channel($1);

-- name: ping
SELECT 1;

-- --- commits whose outcome a lost connection hid -------------------------------------

-- name: current_xact_id
-- The transaction's id, taken before its work: if the connection is lost while
-- COMMIT is on its way, the server can still say what became of it.
SELECT pg_current_xact_id();

-- name: xact_status
-- 'committed', 'aborted' or 'in progress' (NULL: too old to tell).
SELECT pg_xact_status($1::xid8);

-- --- web users ---------------------------------------------------------------------

-- name: insert_web_user
INSERT INTO web_user (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (username) DO NOTHING;

-- name: get_web_user
SELECT username, password_hash, role, created_at FROM web_user WHERE username = $1;

-- name: list_web_users
SELECT username, password_hash, role, created_at FROM web_user ORDER BY username;

-- name: delete_web_user
DELETE FROM web_user WHERE username = $1;

-- name: insert_api_token
INSERT INTO api_token (token_hash, username, name, created_at) VALUES ($1, $2, $3, $4);

-- name: get_api_token
SELECT token_hash, username, name, created_at FROM api_token WHERE token_hash = $1;
