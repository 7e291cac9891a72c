-- Named queries of the SQLite store, loaded once at import by
-- asyncflow.storage.sqlite.sqlfiles. Each block starts with "-- name: <name>".
-- Parameters are positional (?) in the column order written here; the row
-- encoders in asyncflow.storage.sqlite.codec produce tuples in that order.

-- name: insert_run
INSERT INTO dag_run (
    dag_id, run_id, run_type, state, logical_date, data_interval_start,
    data_interval_end, conf, queued_at, start_date, end_date
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (dag_id, run_id) DO NOTHING;

-- name: start_run
UPDATE dag_run SET state = 'running', start_date = ?
WHERE dag_id = ? AND run_id = ? AND state = 'queued';

-- name: start_run_within
-- ?1 start date; it starts only while fewer than ?4 runs of its DAG are running.
UPDATE dag_run SET state = 'running', start_date = ?1
WHERE dag_id = ?2 AND run_id = ?3 AND state = 'queued'
  AND (SELECT count(*) FROM dag_run WHERE dag_id = ?2 AND state = 'running') < ?4;

-- name: finish_run
UPDATE dag_run SET state = ?, end_date = ?
WHERE dag_id = ? AND run_id = ? AND state = 'running';

-- name: stop_unfinished
-- A run stopped early (its dagrun_timeout passed): in the transaction that
-- ends it, a running try fails with the given error and every other
-- unfinished instance is skipped. SET reads the row as it was, so each CASE
-- sees the old state.
UPDATE task_instance SET
    state = CASE WHEN state = 'running' THEN 'failed' ELSE 'skipped' END,
    start_date = CASE WHEN state = 'running' THEN start_date ELSE COALESCE(start_date, ?1) END,
    end_date = ?1,
    owner = NULL,
    lease_expires_at = NULL,
    error = CASE WHEN state = 'running' THEN ?2 ELSE error END
WHERE dag_id = ?3 AND run_id = ?4
  AND (state IS NULL OR state NOT IN ('success', 'failed', 'skipped', 'upstream_failed'));

-- name: reopen_run
-- A finished run is queued to run again (a clear, or a state set by hand).
UPDATE dag_run SET state = 'queued', end_date = NULL
WHERE dag_id = ? AND run_id = ? AND state IN ('success', 'failed');

-- name: clear_instance
-- An instance waits for a new try: its try number kept, the tries so far no
-- longer counted against retries.
UPDATE task_instance SET state = NULL, end_date = NULL, next_attempt_at = NULL,
    next_poke_at = NULL, first_poke_at = NULL, poke_count = 0, owner = NULL,
    lease_expires_at = NULL, error = NULL, interrupted_tries = try_number
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?;

-- name: delete_instance_xcoms
DELETE FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?;

-- name: delete_task_instances
-- A mapped task expands again: every instance goes, a placeholder is inserted after.
DELETE FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?;

-- name: delete_task_xcoms
DELETE FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ?;

-- name: mark_instance
-- ?1 state, ?2 when; an instance that never started starts then too.
UPDATE task_instance SET state = ?1, start_date = COALESCE(start_date, ?2), end_date = ?2,
    next_attempt_at = NULL, next_poke_at = NULL, owner = NULL, lease_expires_at = NULL,
    error = CASE WHEN ?1 = 'success' THEN NULL ELSE error END
WHERE dag_id = ?3 AND run_id = ?4 AND task_id = ?5 AND map_index = ?6;

-- name: mark_run_success
UPDATE dag_run SET state = 'success', end_date = COALESCE(end_date, ?1)
WHERE dag_id = ?2 AND run_id = ?3 AND state != 'success';

-- name: mark_instances_success
-- A run marked success by hand: every instance that is not ends successful at ?1.
UPDATE task_instance SET state = 'success', start_date = COALESCE(start_date, ?1),
    end_date = ?1, next_attempt_at = NULL, next_poke_at = NULL, owner = NULL,
    lease_expires_at = NULL, error = NULL
WHERE dag_id = ?2 AND run_id = ?3 AND (state IS NULL OR state != 'success');

-- name: delete_run
-- Its task instances and XCom go with it (ON DELETE CASCADE).
DELETE FROM dag_run WHERE dag_id = ? AND run_id = ? AND state != 'running';

-- name: get_run
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run WHERE dag_id = ? AND run_id = ?;

-- name: find_runs
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run WHERE run_id = ? ORDER BY dag_id;

-- name: list_runs
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run ORDER BY logical_date DESC, dag_id, run_id;

-- name: list_runs_of_dag
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run WHERE dag_id = ? ORDER BY logical_date DESC, run_id;

-- name: list_runs_in_states
-- The states come as one JSON array, so the statement stays fixed.
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run
WHERE state IN (SELECT value FROM json_each(?))
ORDER BY logical_date DESC, dag_id, run_id;

-- name: list_runs_of_dag_in_states
SELECT dag_id, run_id, run_type, state, logical_date, data_interval_start,
       data_interval_end, conf, queued_at, start_date, end_date
FROM dag_run
WHERE dag_id = ? AND state IN (SELECT value FROM json_each(?))
ORDER BY logical_date DESC, run_id;

-- name: insert_task_instance
INSERT INTO task_instance (
    dag_id, run_id, task_id, map_index, state, try_number, start_date, end_date,
    next_attempt_at, next_poke_at, first_poke_at, poke_count, owner,
    lease_expires_at, error, interrupted_tries
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- The transitions of a task instance (asyncflow.storage.protocol). Each UPDATE
-- says in its WHERE what it expects to find, ending with the run still
-- running; a row it does not match is a stale write, and the store reports it
-- as not applied (rowcount 0) instead of applying it.

-- name: start_try
-- A try starts from a state that waits for one, after the try before it.
UPDATE task_instance SET
    state = 'running',
    try_number = ?,
    start_date = ?,
    end_date = NULL,
    next_attempt_at = NULL,
    first_poke_at = ?,
    owner = ?,
    lease_expires_at = ?
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?
  AND try_number = ?
  AND (state IS NULL OR state IN ('scheduled', 'queued', 'up_for_retry', 'up_for_reschedule'))
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = task_instance.dag_id
              AND run.run_id = task_instance.run_id AND run.state = 'running');

-- name: finish_try
UPDATE task_instance SET
    state = ?,
    end_date = ?,
    next_attempt_at = ?,
    next_poke_at = ?,
    first_poke_at = ?,
    poke_count = ?,
    owner = NULL,
    lease_expires_at = NULL,
    error = ?
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?
  AND try_number = ? AND state IN ('running', 'up_for_reschedule')
  AND (owner IS NULL OR owner = ?)
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = task_instance.dag_id
              AND run.run_id = task_instance.run_id AND run.state = 'running');

-- name: finish_tries
-- finish_try over many rows in one statement (one step of the engine, so the
-- writer thread does not wait for the event loop's thread once per row). The
-- store repeats the VALUES row once per try; the guard is finish_try's. It
-- starts with UPDATE so that the driver reports its row count.
UPDATE task_instance SET
    state = v.state,
    end_date = v.end_date,
    next_attempt_at = v.next_attempt_at,
    next_poke_at = v.next_poke_at,
    first_poke_at = v.first_poke_at,
    poke_count = v.poke_count,
    owner = NULL,
    lease_expires_at = NULL,
    error = v.error
FROM (
    SELECT column1 AS state, column2 AS end_date, column3 AS next_attempt_at,
           column4 AS next_poke_at, column5 AS first_poke_at, column6 AS poke_count,
           column7 AS error, column8 AS dag_id, column9 AS run_id, column10 AS task_id,
           column11 AS map_index, column12 AS try_number, column13 AS owner
    FROM (VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))
) AS v
WHERE task_instance.dag_id = v.dag_id AND task_instance.run_id = v.run_id
  AND task_instance.task_id = v.task_id AND task_instance.map_index = v.map_index
  AND task_instance.try_number = v.try_number
  AND task_instance.state IN ('running', 'up_for_reschedule')
  AND (task_instance.owner IS NULL OR task_instance.owner = v.owner)
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = task_instance.dag_id
              AND run.run_id = task_instance.run_id AND run.state = 'running');

-- name: record_reschedule
-- A reschedule-mode sensor's poke that did not finish: only what a poke
-- changes. The try's own columns (try_number, start_date, next_attempt_at)
-- keep their values.
UPDATE task_instance SET
    state = 'up_for_reschedule',
    end_date = ?,
    next_poke_at = ?,
    first_poke_at = ?,
    poke_count = ?,
    owner = NULL,
    lease_expires_at = NULL,
    error = ?
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?
  AND try_number = ? AND state IN ('running', 'up_for_reschedule')
  AND (owner IS NULL OR owner = ?)
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = task_instance.dag_id
              AND run.run_id = task_instance.run_id AND run.state = 'running');

-- name: interrupt_try
UPDATE task_instance SET
    state = ?,
    end_date = ?,
    owner = NULL,
    lease_expires_at = NULL,
    error = ?,
    interrupted_tries = ?
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?
  AND try_number = ? AND state IN ('running', 'up_for_reschedule')
  AND (owner IS NULL OR owner = ?)
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = task_instance.dag_id
              AND run.run_id = task_instance.run_id AND run.state = 'running');

-- name: decide_instance
-- An instance that never ran ends as its upstream decided.
UPDATE task_instance SET state = ?, start_date = ?, end_date = ?, error = ?
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?
  AND state IS NULL
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = task_instance.dag_id
              AND run.run_id = task_instance.run_id AND run.state = 'running');

-- name: recover_try
-- A try that a stopped engine left in flight, still exactly as it was read.
UPDATE task_instance SET
    state = ?,
    end_date = ?,
    next_attempt_at = ?,
    next_poke_at = ?,
    owner = NULL,
    lease_expires_at = NULL,
    error = ?
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?
  AND state IS ? AND owner IS ? AND try_number = ?
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = task_instance.dag_id
              AND run.run_id = task_instance.run_id AND run.state = 'running');

-- name: delete_placeholder
-- A mapped task expands: its placeholder goes, if still undecided on a running run.
DELETE FROM task_instance
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1
  AND state IS NULL
  AND EXISTS (SELECT 1 FROM dag_run AS run WHERE run.dag_id = task_instance.dag_id
              AND run.run_id = task_instance.run_id AND run.state = 'running');

-- name: get_task_instances
SELECT dag_id, run_id, task_id, map_index, state, try_number, start_date, end_date,
       next_attempt_at, next_poke_at, first_poke_at, poke_count, owner,
       lease_expires_at, error, interrupted_tries
FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY task_id, map_index;

-- name: upsert_xcom
INSERT INTO xcom (dag_id, run_id, task_id, map_index, key, value)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (dag_id, run_id, task_id, map_index, key) DO UPDATE SET value = excluded.value;

-- name: upsert_xcoms
-- upsert_xcom over many rows in one statement; the store repeats the VALUES
-- row. Rows naming one key twice apply in order, as upsert_xcom's would.
INSERT INTO xcom (dag_id, run_id, task_id, map_index, key, value)
SELECT column1, column2, column3, column4, column5, column6
FROM (VALUES (?, ?, ?, ?, ?, ?)) WHERE true
ON CONFLICT (dag_id, run_id, task_id, map_index, key) DO UPDATE SET value = excluded.value;

-- name: get_xcom
SELECT dag_id, run_id, task_id, map_index, key, value
FROM xcom
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ? AND map_index = ?;

-- name: get_xcoms
SELECT dag_id, run_id, task_id, map_index, key, value
FROM xcom
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?
ORDER BY map_index;

-- name: delete_run_xcoms
DELETE FROM xcom WHERE dag_id = ? AND run_id = ?;

-- name: get_run_xcoms
SELECT dag_id, run_id, task_id, map_index, key, value
FROM xcom
WHERE dag_id = ? AND run_id = ?
ORDER BY task_id, map_index, key;

-- name: set_dag_paused
INSERT INTO dag (dag_id, is_paused, updated_at) VALUES (?, ?, ?)
ON CONFLICT (dag_id) DO UPDATE SET is_paused = excluded.is_paused,
                                   updated_at = excluded.updated_at;

-- name: get_paused_dags
SELECT dag_id FROM dag WHERE is_paused = 1 ORDER BY dag_id;

-- name: insert_web_user
INSERT INTO web_user (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (username) DO NOTHING;

-- name: get_web_user
SELECT username, password_hash, role, created_at FROM web_user WHERE username = ?;

-- name: list_web_users
SELECT username, password_hash, role, created_at FROM web_user ORDER BY username;

-- name: delete_web_user
DELETE FROM web_user WHERE username = ?;

-- name: insert_api_token
INSERT INTO api_token (token_hash, username, name, created_at) VALUES (?, ?, ?, ?);

-- name: get_api_token
SELECT token_hash, username, name, created_at FROM api_token WHERE token_hash = ?;

-- name: count_waiting_sensors
SELECT count(*) FROM task_instance
WHERE state = 'up_for_reschedule' AND (?1 IS NULL OR dag_id = ?1);

-- name: page_waiting_sensors
SELECT dag_id, run_id, task_id, map_index, try_number, next_poke_at, first_poke_at, poke_count
FROM task_instance
WHERE state = 'up_for_reschedule' AND (?1 IS NULL OR dag_id = ?1)
ORDER BY next_poke_at, dag_id, run_id, task_id, map_index
LIMIT ?2 OFFSET ?3;
