CREATE TABLE IF NOT EXISTS model_api_keys (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    name         text NOT NULL DEFAULT '',
    principal_id text NOT NULL,
    prefix       text NOT NULL,
    hash         text NOT NULL UNIQUE,
    created_at   {{.Timestamp}} NOT NULL
);
--bun:split
CREATE INDEX IF NOT EXISTS model_api_keys_tenant ON model_api_keys (tenant_id, id);
--bun:split
CREATE TABLE IF NOT EXISTS model_quota_counters (
    tenant_id    text NOT NULL,
    kind         text NOT NULL,
    window_start bigint NOT NULL,
    used         bigint NOT NULL,
    PRIMARY KEY (tenant_id, kind, window_start)
);
--bun:split
CREATE TABLE IF NOT EXISTS model_usage (
    tenant_id          text NOT NULL,
    minute             bigint NOT NULL,
    model              text NOT NULL,
    principal          text NOT NULL,
    requests           bigint NOT NULL,
    prompt_tokens      bigint NOT NULL,
    completion_tokens  bigint NOT NULL,
    total_tokens       bigint NOT NULL,
    estimated_requests bigint NOT NULL,
    PRIMARY KEY (tenant_id, minute, model, principal)
);
