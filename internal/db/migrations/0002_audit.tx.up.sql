CREATE TABLE IF NOT EXISTS audit_records (
    tenant_id  text NOT NULL,
    seq        bigint NOT NULL,
    time       {{.Timestamp}} NOT NULL,
    principal  text NOT NULL DEFAULT '',
    action     text NOT NULL,
    resource   text NOT NULL DEFAULT '',
    outcome    text NOT NULL,
    request_id text NOT NULL DEFAULT '',
    detail     text NOT NULL DEFAULT '{}',
    prev_hash  text NOT NULL,
    hash       text NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
--bun:split
CREATE TABLE IF NOT EXISTS audit_heads (
    tenant_id text PRIMARY KEY,
    seq       bigint NOT NULL,
    hash      text NOT NULL
);
