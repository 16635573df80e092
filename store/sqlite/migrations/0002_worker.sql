-- The worker: one row per tenant saying when its next scheduled cycle is due
-- and which process holds its cycle lease (C1, C5). It mirrors
-- migrations/postgres/0002_worker.sql.
--
-- Times are TEXT in UTC in the fixed-width layout the Go side writes
-- (sqliteTimeLayout, nine fraction digits), because the lease queries compare
-- them as text: a value in another layout would sort wrongly. The Go side
-- always writes them itself, from one clock; the defaults only serve
-- hand-made rows and produce the same layout.
CREATE TABLE tenant_schedule (
    tenant_id    TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    next_due_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000000Z', 'now')),
    lease_holder TEXT NOT NULL DEFAULT '',
    lease_until  TEXT,
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000000Z', 'now'))
) STRICT;

-- Admin API bearer tokens, stored as SHA-256 hashes.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000000Z', 'now')),
    revoked_at TEXT
) STRICT;
