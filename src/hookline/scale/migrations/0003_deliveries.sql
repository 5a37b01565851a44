-- The distributed queue's record: one row per delivery (a webhook, a schedule fire, a
-- poll change, a replay). Celery carries only the row's id; the row is the truth.
CREATE TABLE deliveries (
    id text PRIMARY KEY,              -- the id of its first run
    pipeline text NOT NULL,
    trigger text NOT NULL,            -- webhook | schedule | poll | replay
    key text,                         -- dedup key (delivery id, schedule:<minute>); NULL: none
    input json NOT NULL,              -- the input as it arrived (json, not jsonb: key order
                                      -- and \u0000 kept as sent)
    status text NOT NULL DEFAULT 'queued' CHECK (status IN
        ('queued', 'running', 'retry-wait', 'done', 'dead', 'needs-attention')),
    attempts integer NOT NULL DEFAULT 0,     -- runs it had, every one
    retry_base integer NOT NULL DEFAULT 0,   -- attempts when last queued by hand (replay)
    takeovers integer NOT NULL DEFAULT 0,    -- claims that took it from a worker that died
    next_attempt_at timestamptz,      -- retry-wait: when it is due
    lease_owner text,                 -- running: the worker (host:pid:uuid) that holds it
    lease_until timestamptz,          -- running: past this, the worker is taken for dead
    first_run text NOT NULL,          -- = id; named for readers of the history
    run_id text NOT NULL,             -- its last (or current) run
    resume_run text,                  -- queued after a stop: resume this run
    error text,
    output json,                      -- the last run's output, for sync replies
    run_status text,                  -- the last run's status, for sync replies
    published_at timestamptz,         -- last handed to the broker; NULL: not yet, or failed
    received_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (pipeline, key)
);

-- What the dispatcher and the queue depth read: the rows still to run, oldest first.
CREATE INDEX deliveries_waiting ON deliveries (received_at)
    WHERE status IN ('queued', 'retry-wait', 'running');
CREATE INDEX deliveries_pipeline_waiting ON deliveries (pipeline)
    WHERE status IN ('queued', 'retry-wait', 'running');
CREATE INDEX deliveries_dead ON deliveries (pipeline, received_at)
    WHERE status IN ('dead', 'needs-attention');
CREATE INDEX deliveries_run ON deliveries (run_id);
CREATE INDEX deliveries_done ON deliveries (finished_at) WHERE status = 'done';

-- Every run a delivery had, to find the delivery of any of its runs (replay).
CREATE TABLE delivery_runs (
    run_id text PRIMARY KEY,
    delivery text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt integer NOT NULL
);
CREATE INDEX delivery_runs_delivery ON delivery_runs (delivery);
