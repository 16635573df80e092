-- Incremental cycles: each tenant's change-tracking state and how each run
-- read Graph (mirrors store/postgres/migrations/0011_delta.sql).
CREATE TABLE delta_state (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    strategy   TEXT NOT NULL DEFAULT '',
    note       TEXT NOT NULL DEFAULT '',
    links      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(links)),
    taken_at   TEXT NOT NULL,
    full_at    TEXT NOT NULL,
    scope      TEXT NOT NULL DEFAULT '',
    mirror     BLOB NOT NULL,
    generation INTEGER NOT NULL,
    directory_version INTEGER NOT NULL DEFAULT 0,
    settings_hash     TEXT NOT NULL DEFAULT '',
    summary           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(summary)),
    clean             INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE tenants ADD COLUMN directory_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN mode TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN full_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN critical_path INTEGER NOT NULL DEFAULT 0;
