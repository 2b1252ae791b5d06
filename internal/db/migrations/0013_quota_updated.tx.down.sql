ALTER TABLE tenant_run_quota DROP COLUMN updated_ms;
