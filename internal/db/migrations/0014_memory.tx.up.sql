CREATE TABLE IF NOT EXISTS memory_items (
    tenant_id  text NOT NULL,
    namespace  text NOT NULL,
    key        text NOT NULL,
    value      text NOT NULL,
    embedding  text NOT NULL,
    created_at {{.Timestamp}} NOT NULL,
    updated_at {{.Timestamp}} NOT NULL,
    expires_at {{.Timestamp}},
    PRIMARY KEY (tenant_id, namespace, key)
);
--bun:split
CREATE INDEX IF NOT EXISTS memory_items_expiry ON memory_items (expires_at) WHERE expires_at IS NOT NULL;
