-- Incremental cycles (#10): each tenant's change-tracking state, saved in
-- the transaction that applies a cycle, and how each run read Graph.
CREATE TABLE delta_state (
    tenant_id  text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    strategy   text NOT NULL DEFAULT '',
    note       text NOT NULL DEFAULT '',
    links      jsonb NOT NULL DEFAULT '{}',
    taken_at   timestamptz NOT NULL,
    full_at    timestamptz NOT NULL,
    scope      text NOT NULL DEFAULT '',
    mirror     bytea NOT NULL,
    generation bigint NOT NULL,
    -- what the cycle that saved it left: the tenant's directory version
    -- after its writes, a hash of the settings it planned with, and
    -- whether it applied everything it planned (no conflicts, nothing held)
    directory_version bigint NOT NULL DEFAULT 0,
    settings_hash     text NOT NULL DEFAULT '',
    summary           jsonb NOT NULL DEFAULT '{}',
    clean             boolean NOT NULL DEFAULT false
);

-- Bumped by every write to a tenant's directory (a cycle's changes, an
-- administrator's write): an unchanged incremental cycle over an unchanged
-- directory need not load and plan it.
ALTER TABLE tenants ADD COLUMN directory_version bigint NOT NULL DEFAULT 0;

ALTER TABLE runs
    ADD COLUMN mode text NOT NULL DEFAULT '',
    ADD COLUMN full_reason text NOT NULL DEFAULT '',
    ADD COLUMN critical_path integer NOT NULL DEFAULT 0;
