-- A try that a graceful shutdown cut short keeps its number (the next
-- execution is the next try, with its own log file) and is counted here, so
-- that it is not counted against the task's retries.
ALTER TABLE task_instance ADD COLUMN interrupted_tries INTEGER NOT NULL DEFAULT 0;
