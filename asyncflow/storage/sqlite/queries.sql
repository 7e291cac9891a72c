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

-- name: update_run
UPDATE dag_run SET state = ?, start_date = ?, end_date = ?
WHERE dag_id = ? AND run_id = ?;

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
    lease_expires_at, error
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: upsert_task_instance
INSERT INTO task_instance (
    dag_id, run_id, task_id, map_index, state, try_number, start_date, end_date,
    next_attempt_at, next_poke_at, first_poke_at, poke_count, owner,
    lease_expires_at, error
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (dag_id, run_id, task_id, map_index) DO UPDATE SET
    state = excluded.state,
    try_number = excluded.try_number,
    start_date = excluded.start_date,
    end_date = excluded.end_date,
    next_attempt_at = excluded.next_attempt_at,
    next_poke_at = excluded.next_poke_at,
    first_poke_at = excluded.first_poke_at,
    poke_count = excluded.poke_count,
    owner = excluded.owner,
    lease_expires_at = excluded.lease_expires_at,
    error = excluded.error;

-- name: reschedule_task_instance
-- A reschedule-mode sensor's poke that did not finish: only what a poke
-- changes. The try's own columns (try_number, start_date, next_attempt_at)
-- keep their values, so the row is updated in place, never re-inserted.
UPDATE task_instance SET
    state = 'up_for_reschedule',
    end_date = ?,
    next_poke_at = ?,
    first_poke_at = ?,
    poke_count = ?,
    owner = ?,
    lease_expires_at = ?,
    error = ?
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?;

-- name: delete_placeholder
DELETE FROM task_instance
WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1;

-- name: get_task_instances
SELECT dag_id, run_id, task_id, map_index, state, try_number, start_date, end_date,
       next_attempt_at, next_poke_at, first_poke_at, poke_count, owner,
       lease_expires_at, error
FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY task_id, map_index;

-- name: upsert_xcom
INSERT INTO xcom (dag_id, run_id, task_id, map_index, key, value)
VALUES (?, ?, ?, ?, ?, ?)
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
