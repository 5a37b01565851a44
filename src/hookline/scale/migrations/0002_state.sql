-- Pipeline state (hookline.scale._pg_state): the same tables as the embedded store's.
-- value holds the REAL values (the next run needs them); state_changes the redacted ones.
CREATE TABLE pipeline_state (
    pipeline text PRIMARY KEY,
    version integer NOT NULL,
    value text NOT NULL,
    updated_at text NOT NULL,
    updated_by text
);
CREATE TABLE state_changes (
    pipeline text NOT NULL,
    version integer NOT NULL,
    run_id text,
    keys text NOT NULL,
    changes text NOT NULL,
    at text NOT NULL,
    PRIMARY KEY (pipeline, version)
);
CREATE INDEX state_changes_by_run ON state_changes (run_id);
