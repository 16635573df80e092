-- entrasync local directory, one set of rows per tenant.

CREATE TABLE tenants (
    id              text PRIMARY KEY,
    entra_tenant_id text NOT NULL,
    settings        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id                  bigserial PRIMARY KEY,
    tenant_id           text NOT NULL REFERENCES tenants (id),
    entra_id            text,
    origin              text NOT NULL CHECK (origin IN ('provisioned', 'manual')),
    user_principal_name text NOT NULL DEFAULT '',
    mail                text NOT NULL DEFAULT '',
    email               text NOT NULL DEFAULT '',
    -- lower(email) while the user holds it; NULL when empty or purged.
    email_key           text,
    display_name        text NOT NULL DEFAULT '',
    given_name          text NOT NULL DEFAULT '',
    surname             text NOT NULL DEFAULT '',
    account_enabled     boolean NOT NULL DEFAULT true,
    status              text NOT NULL CHECK (status IN ('staged', 'invited', 'active', 'archived', 'purged')),
    previous_status     text NOT NULL DEFAULT '',
    archived_at         timestamptz,
    archive_reason      text NOT NULL DEFAULT '',
    purged_at           timestamptz,
    require_mobile_auth boolean, -- per-user override; NULL = tenant default
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- L10: e-mails are unique per tenant, case-insensitively. Deferred so that
    -- one transaction may move e-mails between users.
    CONSTRAINT users_email_unique UNIQUE (tenant_id, email_key) DEFERRABLE INITIALLY DEFERRED
);
-- S6: one live local user per Entra object id (purged tombstones excepted).
CREATE UNIQUE INDEX users_entra_id ON users (tenant_id, entra_id) WHERE entra_id IS NOT NULL AND purged_at IS NULL;
CREATE INDEX users_tenant_status ON users (tenant_id, status);

CREATE TABLE user_paths (
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id text NOT NULL,
    path      text NOT NULL,
    PRIMARY KEY (user_id, path)
);
CREATE INDEX user_paths_tenant ON user_paths (tenant_id);

CREATE TABLE groups (
    id                     bigserial PRIMARY KEY,
    tenant_id              text NOT NULL REFERENCES tenants (id),
    entra_id               text,
    origin                 text NOT NULL CHECK (origin IN ('provisioned', 'manual')),
    display_name           text NOT NULL DEFAULT '',
    archived_at            timestamptz,
    archive_reason         text NOT NULL DEFAULT '',
    members_may_store_data boolean, -- per-group overrides; NULL = tenant default
    require_mobile_auth    boolean,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX groups_entra_id ON groups (tenant_id, entra_id) WHERE entra_id IS NOT NULL;

CREATE TABLE memberships (
    group_id   bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX memberships_tenant ON memberships (tenant_id);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE runs (
    id             bigserial PRIMARY KEY,
    tenant_id      text NOT NULL REFERENCES tenants (id),
    trigger        text NOT NULL DEFAULT '',
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    outcome        text NOT NULL,
    counts         jsonb NOT NULL DEFAULT '{}',
    conflicts      jsonb NOT NULL DEFAULT '[]',
    graph_requests integer NOT NULL DEFAULT 0,
    read_ms        bigint NOT NULL DEFAULT 0,
    apply_ms       bigint NOT NULL DEFAULT 0,
    error          text NOT NULL DEFAULT ''
);
CREATE INDEX runs_tenant ON runs (tenant_id, id DESC);

-- The provisioning log: one row per change a run applied or held back.
CREATE TABLE provisioning_log (
    id             bigserial PRIMARY KEY,
    run_id         bigint NOT NULL REFERENCES runs (id),
    tenant_id      text NOT NULL,
    status         text NOT NULL,
    action         text NOT NULL,
    entity         text NOT NULL,
    entra_id       text NOT NULL DEFAULT '',
    group_entra_id text NOT NULL DEFAULT '',
    label          text NOT NULL DEFAULT '',
    reason         text NOT NULL DEFAULT '',
    fields         jsonb NOT NULL DEFAULT '[]',
    before         jsonb,
    after          jsonb
);
CREATE INDEX provisioning_log_run ON provisioning_log (run_id, id);

-- The event outbox, read in id order by downstream consumers.
CREATE TABLE events (
    id             bigserial PRIMARY KEY,
    tenant_id      text NOT NULL,
    run_id         bigint REFERENCES runs (id),
    type           text NOT NULL,
    entra_id       text NOT NULL DEFAULT '',
    group_entra_id text NOT NULL DEFAULT '',
    data           jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_tenant ON events (tenant_id, id);
