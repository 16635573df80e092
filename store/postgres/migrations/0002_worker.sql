-- The worker: one row per tenant saying when its next scheduled cycle is due
-- and which process holds its cycle lease (C1, C5).
CREATE TABLE tenant_schedule (
    tenant_id    text PRIMARY KEY REFERENCES tenants (id),
    next_due_at  timestamptz NOT NULL DEFAULT now(),
    lease_holder text NOT NULL DEFAULT '',
    lease_until  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Admin API bearer tokens, stored as SHA-256 hashes.
CREATE TABLE api_tokens (
    id         bigserial PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
