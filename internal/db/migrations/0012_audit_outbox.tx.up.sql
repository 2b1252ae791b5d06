CREATE TABLE IF NOT EXISTS audit_outbox (
    {{if .Postgres}}id bigserial PRIMARY KEY{{else}}id INTEGER PRIMARY KEY AUTOINCREMENT{{end}},
    tenant_id  text NOT NULL,
    record     text NOT NULL,
    created_at {{.Timestamp}} NOT NULL
);
