-- Heartbeats find a run by its lease id.
CREATE INDEX IF NOT EXISTS runs_by_lease ON runs (lease_id) WHERE lease_id IS NOT NULL;
