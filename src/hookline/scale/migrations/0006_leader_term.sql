-- The leader's fencing terms. Each new term of serve's leader lease (in Redis) takes its
-- number here, so terms only grow even when Redis loses its data (a restart without
-- persistence, a failover): a term counted in Redis would start again at 1, below the
-- terms the schedule marks and poll baselines hold, and every write of the new leader
-- would be refused as stale.
CREATE SEQUENCE hookline_leader_term AS bigint;

-- Above every term already written (a database a leader used before this migration).
SELECT setval(
    'hookline_leader_term',
    GREATEST(
        (SELECT COALESCE(max(term), 0) FROM schedule_fires),
        (SELECT COALESCE(max(term), 0) FROM poll_polls)
    ) + 1,
    false
);
