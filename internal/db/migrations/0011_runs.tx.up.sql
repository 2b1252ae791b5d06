CREATE TABLE IF NOT EXISTS runs (
    id                text PRIMARY KEY,
    tenant_id         text NOT NULL,
    agent_id          text NOT NULL,
    agent_version     bigint NOT NULL,
    status            text NOT NULL,
    input             text NOT NULL,
    output            text,
    error_code        text,
    error_message     text,
    attempt           integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    metadata          text NOT NULL DEFAULT '{}',
    created_at        {{.Timestamp}} NOT NULL,
    started_at        {{.Timestamp}},
    ended_at          {{.Timestamp}},
    deadline          {{.Timestamp}},
    last_seq          bigint NOT NULL DEFAULT 0,
    lease_id          text,
    lease_expires_at  {{.Timestamp}},
    worker_id         text,
    cancel_requested  boolean NOT NULL DEFAULT false,
    last_batch_id     text
);
--bun:split
CREATE INDEX IF NOT EXISTS runs_by_tenant ON runs (tenant_id, created_at DESC, id DESC);
--bun:split
CREATE INDEX IF NOT EXISTS runs_by_agent ON runs (tenant_id, agent_id, created_at DESC, id DESC);
--bun:split
CREATE INDEX IF NOT EXISTS runs_queue ON runs (created_at, id) WHERE status = 'queued';
--bun:split
CREATE INDEX IF NOT EXISTS runs_leases ON runs (lease_expires_at) WHERE status IN ('running', 'cancelling');
--bun:split
CREATE INDEX IF NOT EXISTS runs_deadlines ON runs (deadline) WHERE deadline IS NOT NULL AND status IN ('queued', 'running', 'cancelling');
--bun:split
CREATE TABLE IF NOT EXISTS run_events (
    run_id    text NOT NULL,
    seq       bigint NOT NULL,
    tenant_id text NOT NULL,
    type      text NOT NULL,
    data      text NOT NULL,
    time      {{.Timestamp}} NOT NULL,
    PRIMARY KEY (run_id, seq)
);
--bun:split
CREATE TABLE IF NOT EXISTS tenant_run_quota (
    tenant_id    text PRIMARY KEY,
    active       bigint NOT NULL DEFAULT 0,
    window_start bigint NOT NULL DEFAULT 0,
    window_count bigint NOT NULL DEFAULT 0
);
--bun:split
CREATE TABLE IF NOT EXISTS idempotency_keys (
    tenant_id    text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    state        text NOT NULL,
    status       integer NOT NULL DEFAULT 0,
    content_type text NOT NULL DEFAULT '',
    body         text NOT NULL DEFAULT '',
    created_at   {{.Timestamp}} NOT NULL,
    expires_at   {{.Timestamp}} NOT NULL,
    locked_until {{.Timestamp}} NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
--bun:split
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
