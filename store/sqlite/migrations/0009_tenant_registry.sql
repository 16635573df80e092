-- The tenant registry (mirrors migrations/postgres/0009_tenant_registry.sql):
-- tenants added, changed and removed while the worker runs; no secret, only
-- the name of a configured credential.
CREATE TABLE tenant_registry (
    name                 TEXT PRIMARY KEY,
    entra_tenant_id      TEXT NOT NULL,
    credential           TEXT NOT NULL,
    client_id            TEXT NOT NULL DEFAULT '',
    app_id               TEXT NOT NULL DEFAULT '',
    service_principal_id TEXT NOT NULL DEFAULT '',
    schedule             TEXT NOT NULL DEFAULT '',
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
