DROP TABLE IF EXISTS model_usage;
--bun:split
DROP TABLE IF EXISTS model_quota_counters;
--bun:split
DROP TABLE IF EXISTS model_api_keys;
