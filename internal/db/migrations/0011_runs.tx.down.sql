DROP TABLE IF EXISTS idempotency_keys;
--bun:split
DROP TABLE IF EXISTS tenant_run_quota;
--bun:split
DROP TABLE IF EXISTS run_events;
--bun:split
DROP TABLE IF EXISTS runs;
