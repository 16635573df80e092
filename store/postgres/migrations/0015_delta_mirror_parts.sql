-- The delta state's mirror in parts (sync.DeltaState.MirrorParts), each
-- with the SHA-256 of its bytes: a save rewrites only the parts that
-- changed. A large tenant's mirror is 11 MB; 1 % of its users renamed
-- changes the users' parts (about 4 MB) and leaves the assignments' and
-- groups' as they were. Every save with parts empties delta_state.mirror;
-- a mirror in that column (a state saved before this migration, or by a
-- process that does not know the parts) is read before any parts.
CREATE TABLE delta_mirror_parts (
    tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    idx       integer NOT NULL,
    sum       text NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (tenant_id, idx)
);
