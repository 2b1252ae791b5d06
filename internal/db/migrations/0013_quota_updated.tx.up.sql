ALTER TABLE tenant_run_quota ADD COLUMN updated_ms bigint NOT NULL DEFAULT 0;
