-- The leader's scheduler and poller keep here what the embedded serve keeps in its
-- SQLite file, so a new leader (another serve instance) continues where the last stopped.

-- Each schedule's last fire handled: the missed-run policy counts from it.
CREATE TABLE schedule_fires (
    pipeline text PRIMARY KEY,
    last_fire double precision NOT NULL,   -- epoch seconds of the fire's minute
    term bigint NOT NULL DEFAULT 0,        -- the fencing token of the leader that wrote it
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- A poll trigger's baseline: one row per record of its last listing. Ids and markers are
-- the upstream's texts, kept byte for byte (UTF-8, a lone surrogate included): bytea,
-- since text refuses NUL.
CREATE TABLE poll_baseline (
    pipeline text NOT NULL,
    id bytea NOT NULL,
    marker bytea NOT NULL,
    PRIMARY KEY (pipeline, id)
);

-- Per poll pipeline: its baseline was committed (no row: the next poll is a first poll).
CREATE TABLE poll_polls (
    pipeline text PRIMARY KEY,
    records integer NOT NULL,
    version bigint NOT NULL,               -- grows with each commit
    term bigint NOT NULL DEFAULT 0,        -- the fencing token of the leader that wrote it
    committed_at timestamptz NOT NULL DEFAULT now()
);
