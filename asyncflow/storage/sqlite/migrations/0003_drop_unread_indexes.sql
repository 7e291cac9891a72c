-- The task_instance indexes of 0001 serve no query: instances are read by
-- primary key, a run at a time (get_task_instances), and the timers that wake
-- retries and reschedule-mode sensors live in the engine's memory, rebuilt
-- from those reads on restart. Yet each index is written with the row: a
-- reschedule-mode sensor changes state and next_poke_at on every poke, and the
-- three indexes made up about 40 % of SQLite's work per poke (18 of 42 us per
-- row in batches of 200 over 10,000 sensors). A query that needs an index adds
-- it in its own migration.

DROP INDEX task_instance_by_state;
DROP INDEX task_instance_retry_due;
DROP INDEX task_instance_poke_due;
