-- entrasync local directory on SQLite, one set of rows per tenant. It mirrors
-- migrations/postgres/0001_init.sql. Differences:
--   * timestamps are TEXT in UTC, RFC 3339 with nanoseconds (the Go side
--     writes them; the defaults only serve hand-made rows);
--   * booleans are INTEGER 0/1, JSON documents are TEXT checked by json_valid;
--   * ids are INTEGER PRIMARY KEY AUTOINCREMENT, so an id is never reused;
--   * users_email_unique is an ordinary unique index: SQLite cannot defer it,
--     so Apply releases the e-mail keys of changing users before it sets the
--     new ones (see sqliteTx.applyUsers).

CREATE TABLE tenants (
    id              TEXT NOT NULL PRIMARY KEY,
    entra_tenant_id TEXT NOT NULL,
    settings        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    entra_id            TEXT,
    origin              TEXT NOT NULL CHECK (origin IN ('provisioned', 'manual')),
    user_principal_name TEXT NOT NULL DEFAULT '',
    mail                TEXT NOT NULL DEFAULT '',
    email               TEXT NOT NULL DEFAULT '',
    -- lower(email) while the user holds it; NULL when empty or purged.
    email_key           TEXT,
    display_name        TEXT NOT NULL DEFAULT '',
    given_name          TEXT NOT NULL DEFAULT '',
    surname             TEXT NOT NULL DEFAULT '',
    account_enabled     INTEGER NOT NULL DEFAULT 1 CHECK (account_enabled IN (0, 1)),
    status              TEXT NOT NULL CHECK (status IN ('staged', 'invited', 'active', 'archived', 'purged')),
    previous_status     TEXT NOT NULL DEFAULT '',
    archived_at         TEXT,
    archive_reason      TEXT NOT NULL DEFAULT '',
    purged_at           TEXT,
    require_mobile_auth INTEGER CHECK (require_mobile_auth IN (0, 1)), -- per-user override; NULL = tenant default
    created_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
-- L10: e-mails are unique per tenant, case-insensitively (NULLs are distinct).
CREATE UNIQUE INDEX users_email_unique ON users (tenant_id, email_key);
-- S6: one live local user per Entra object id (purged tombstones excepted).
CREATE UNIQUE INDEX users_entra_id ON users (tenant_id, entra_id) WHERE entra_id IS NOT NULL AND purged_at IS NULL;
CREATE INDEX users_tenant_status ON users (tenant_id, status);

CREATE TABLE user_paths (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    path      TEXT NOT NULL,
    PRIMARY KEY (user_id, path)
) STRICT;
CREATE INDEX user_paths_tenant ON user_paths (tenant_id);

CREATE TABLE groups (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id              TEXT NOT NULL REFERENCES tenants (id),
    entra_id               TEXT,
    origin                 TEXT NOT NULL CHECK (origin IN ('provisioned', 'manual')),
    display_name           TEXT NOT NULL DEFAULT '',
    archived_at            TEXT,
    archive_reason         TEXT NOT NULL DEFAULT '',
    members_may_store_data INTEGER CHECK (members_may_store_data IN (0, 1)), -- per-group overrides; NULL = tenant default
    require_mobile_auth    INTEGER CHECK (require_mobile_auth IN (0, 1)),
    created_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE UNIQUE INDEX groups_entra_id ON groups (tenant_id, entra_id) WHERE entra_id IS NOT NULL;

CREATE TABLE memberships (
    group_id   INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (group_id, user_id)
) STRICT;
CREATE INDEX memberships_tenant ON memberships (tenant_id);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    trigger        TEXT NOT NULL DEFAULT '',
    started_at     TEXT NOT NULL,
    finished_at    TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    counts         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(counts)),
    conflicts      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(conflicts)),
    graph_requests INTEGER NOT NULL DEFAULT 0,
    read_ms        INTEGER NOT NULL DEFAULT 0,
    apply_ms       INTEGER NOT NULL DEFAULT 0,
    error          TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX runs_tenant ON runs (tenant_id, id DESC);

-- The provisioning log: one row per change a run applied or held back.
CREATE TABLE provisioning_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id         INTEGER NOT NULL REFERENCES runs (id),
    tenant_id      TEXT NOT NULL,
    status         TEXT NOT NULL,
    action         TEXT NOT NULL,
    entity         TEXT NOT NULL,
    entra_id       TEXT NOT NULL DEFAULT '',
    group_entra_id TEXT NOT NULL DEFAULT '',
    label          TEXT NOT NULL DEFAULT '',
    reason         TEXT NOT NULL DEFAULT '',
    fields         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(fields)),
    before         TEXT CHECK (before IS NULL OR json_valid(before)),
    after          TEXT CHECK (after IS NULL OR json_valid(after))
) STRICT;
CREATE INDEX provisioning_log_run ON provisioning_log (run_id, id);

-- The event outbox, read in id order by downstream consumers.
CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    run_id         INTEGER REFERENCES runs (id),
    type           TEXT NOT NULL,
    entra_id       TEXT NOT NULL DEFAULT '',
    group_entra_id TEXT NOT NULL DEFAULT '',
    data           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX events_tenant ON events (tenant_id, id);
