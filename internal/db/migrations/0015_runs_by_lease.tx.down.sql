DROP INDEX IF EXISTS runs_by_lease;
