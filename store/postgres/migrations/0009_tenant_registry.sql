-- The tenant registry: tenants added, changed and removed while the workers
-- run (`entrasync tenant add|set|remove`, /api/v1/registry/tenants). Every
-- worker process reads it each poll; a change bumps version, so a process
-- rebuilds only the Graph source of an entry that changed. It holds no
-- secret: credential names an entry of each process's credentials: section.
CREATE TABLE tenant_registry (
    name                 text PRIMARY KEY,
    entra_tenant_id      text NOT NULL,
    credential           text NOT NULL,
    client_id            text NOT NULL DEFAULT '',
    app_id               text NOT NULL DEFAULT '',
    service_principal_id text NOT NULL DEFAULT '',
    schedule             text NOT NULL DEFAULT '',
    version              bigint NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
