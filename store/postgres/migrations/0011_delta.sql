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
    generation bigint NOT NULL
);

ALTER TABLE runs
    ADD COLUMN mode text NOT NULL DEFAULT '',
    ADD COLUMN full_reason text NOT NULL DEFAULT '',
    ADD COLUMN critical_path integer NOT NULL DEFAULT 0;
