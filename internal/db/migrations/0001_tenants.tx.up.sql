CREATE TABLE IF NOT EXISTS tenants (
    id           text PRIMARY KEY,
    display_name text NOT NULL DEFAULT '',
    quotas       text NOT NULL DEFAULT '{}',
    labels       text NOT NULL DEFAULT '{}',
    created_at   {{.Timestamp}} NOT NULL,
    updated_at   {{.Timestamp}} NOT NULL
);
