-- Checkpoints of unfinished runs (hookline.scale._pg_checkpoints). Results are NOT
-- redacted (a resumed run reuses them); rows are deleted when the run ends.
CREATE TABLE checkpoints (
    run_id text NOT NULL,
    idx integer NOT NULL,
    step_id text NOT NULL,
    digest text NOT NULL,
    phase text NOT NULL,
    safe boolean NOT NULL,
    why text,
    result text,
    PRIMARY KEY (run_id, idx)
);
