CREATE TABLE IF NOT EXISTS agents (
    tenant_id      text NOT NULL,
    id             text NOT NULL,
    latest_version bigint NOT NULL,
    created_at     {{.Timestamp}} NOT NULL,
    updated_at     {{.Timestamp}} NOT NULL,
    deleted_at     {{.Timestamp}},
    PRIMARY KEY (tenant_id, id)
);
--bun:split
CREATE INDEX IF NOT EXISTS agents_by_update ON agents (tenant_id, updated_at DESC, id DESC) WHERE deleted_at IS NULL;
--bun:split
CREATE TABLE IF NOT EXISTS agent_versions (
    tenant_id  text NOT NULL,
    agent_id   text NOT NULL,
    version    bigint NOT NULL,
    spec       text NOT NULL,
    created_at {{.Timestamp}} NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, version)
);
--bun:split
CREATE TABLE IF NOT EXISTS agent_labels (
    tenant_id text NOT NULL,
    agent_id  text NOT NULL,
    key       text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, key)
);
--bun:split
CREATE INDEX IF NOT EXISTS agent_labels_by_value ON agent_labels (tenant_id, key, value);
