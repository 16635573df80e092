-- The delta state's mirror in parts, each with the SHA-256 of its bytes
-- (mirrors store/postgres/migrations/0015_delta_mirror_parts.sql).
CREATE TABLE delta_mirror_parts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    sum       TEXT NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (tenant_id, idx)
);
