-- Engines share one database's work.
--
-- A run is driven (its trigger rules decided, its instances offered, its end
-- recorded) by one engine at a time, dag_run.driver; any engine claims the
-- offered instances it has room for. An instance offered for a try is
-- 'scheduled' with its queue, pool and priority; a claim makes it 'queued' and
-- owned by the claiming engine, which then runs the try.
--
-- Wake-ups are PostgreSQL's own LISTEN/NOTIFY, sent by triggers so that every
-- path that changes an instance (a try recorded by any engine, a dead engine's
-- try recovered) tells the run's driver:
--   asyncflow_offered  payload: the queue    an instance was offered
--   asyncflow_ended    payload: [dag_id, run_id, task_id, map_index] (JSON)
--                      a try's outcome was recorded (or the try was interrupted)
--   asyncflow_runs     payload: dag_id       a run was queued for an engine to start
--   asyncflow_wake     payload: the key      engine.notify(key) from any engine
-- Channels belong to a whole database, so each name carries a digest of the schema
-- (asyncflow_channel): stores in other schemas of one database hear nothing of this one.

ALTER TABLE dag_run ADD COLUMN driver text COLLATE "C";

ALTER TABLE task_instance
    ADD COLUMN queue      text COLLATE "C",
    ADD COLUMN pool       text COLLATE "C",
    ADD COLUMN pool_slots bigint NOT NULL DEFAULT 1,
    ADD COLUMN priority   bigint NOT NULL DEFAULT 0,
    ADD COLUMN dag_limit  bigint,  -- the DAG's max_active_tasks, held across engines
    ADD COLUMN offered_seq bigint;

-- Offers are taken best priority first, then first offered first: a sequence
-- gives the order across every engine's offers.
CREATE SEQUENCE task_instance_offer_seq OWNED BY task_instance.offered_seq;

-- The claims' scans: offered instances in the order they are taken, those under
-- no limit by queue, those in a pool by pool, those of a limited DAG by DAG.
CREATE INDEX task_instance_offered ON task_instance (queue, priority DESC, offered_seq)
    WHERE state = 'scheduled' AND pool IS NULL AND dag_limit IS NULL;
CREATE INDEX task_instance_offered_pooled ON task_instance (pool, priority DESC, offered_seq)
    WHERE state = 'scheduled' AND pool IS NOT NULL AND dag_limit IS NULL;
CREATE INDEX task_instance_offered_limited ON task_instance (dag_id, priority DESC, offered_seq)
    WHERE state = 'scheduled' AND dag_limit IS NOT NULL;
-- What is in flight, by owner (a dead engine's tries), by pool (its slots in use)
-- and by DAG (its max_active_tasks).
CREATE INDEX task_instance_in_flight ON task_instance (owner)
    WHERE state IN ('queued', 'running');
CREATE INDEX task_instance_pooled ON task_instance (pool)
    WHERE pool IS NOT NULL AND state IN ('queued', 'running');
CREATE INDEX task_instance_dag_in_flight ON task_instance (dag_id)
    WHERE dag_limit IS NOT NULL AND state IN ('queued', 'running');
-- Runs whose driver may have died.
CREATE INDEX dag_run_running_driver ON dag_run (driver) WHERE state = 'running';

CREATE FUNCTION asyncflow_channel(name text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT name || ':' || substr(md5(current_schema()), 1, 12)
$$;

CREATE FUNCTION asyncflow_instance_notices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'scheduled' THEN
        PERFORM pg_notify(asyncflow_channel('asyncflow_offered'), coalesce(NEW.queue, 'default'));
    ELSIF NEW.state IN ('success', 'failed', 'skipped', 'upstream_failed', 'up_for_retry',
                        'up_for_reschedule')
              AND OLD.state IN ('scheduled', 'queued', 'running', 'up_for_reschedule')
          -- a try a shutdown interrupted, to run again
          OR NEW.state IS NULL AND OLD.state IN ('queued', 'running') THEN
        PERFORM pg_notify(asyncflow_channel('asyncflow_ended'),
                          json_build_array(NEW.dag_id, NEW.run_id, NEW.task_id, NEW.map_index)::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER task_instance_notices AFTER UPDATE OF state, try_number, poke_count ON task_instance
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.poke_count <> NEW.poke_count
                       OR OLD.try_number <> NEW.try_number)
    EXECUTE FUNCTION asyncflow_instance_notices();

CREATE FUNCTION asyncflow_run_notices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(asyncflow_channel('asyncflow_runs'), NEW.dag_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER dag_run_queued AFTER INSERT ON dag_run
    FOR EACH ROW WHEN (NEW.state = 'queued')
    EXECUTE FUNCTION asyncflow_run_notices();
