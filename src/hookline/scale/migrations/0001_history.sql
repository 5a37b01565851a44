-- The run history (hookline.scale._pg_history): one row per run, one per record.
-- Times are the same ISO texts as the embedded history's (they sort as they read);
-- heartbeat_at is the database's clock (epoch seconds), so machines' clocks don't matter.
CREATE TABLE runs (
    id text PRIMARY KEY,
    n bigserial NOT NULL,  -- insertion order: breaks ties of started_at, as SQLite's rowid
    pipeline text NOT NULL,
    file text NOT NULL,
    digest text NOT NULL,
    trigger text NOT NULL,
    input text,
    status text NOT NULL,
    started_at text NOT NULL,
    finished_at text,
    duration_ms double precision,
    output text,
    error text,
    pid integer,
    host text,
    heartbeat_at double precision
);
CREATE INDEX runs_by_pipeline ON runs (pipeline, started_at);
CREATE INDEX runs_by_start ON runs (started_at, n);
CREATE INDEX runs_live ON runs (status) WHERE status IN ('running', 'lost');

-- kind: 1 step, 2 attempt, 3 iteration. num: the attempt's number or the iteration's
-- index. texts: the record's texts as one JSON array (ASCII JSON: any text fits).
CREATE TABLE run_records (
    run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    kind smallint NOT NULL,
    step_id text NOT NULL,
    status text,
    num integer,
    tenths bigint,
    same smallint,
    loop_step text,
    loop_index integer,
    texts text,
    PRIMARY KEY (run_id, seq)
);
