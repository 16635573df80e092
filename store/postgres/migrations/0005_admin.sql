-- Administration (SPEC.md sections 3 and 5): tenant-level setting overrides,
-- which win over the settings the configuration registers (RegisterTenant
-- writes only settings, administrators only settings_overrides), and the
-- time a tenant was disconnected (its provisioned users and groups made
-- manual; NULL while connected).
ALTER TABLE tenants
    ADD COLUMN settings_overrides jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN disconnected_at timestamptz;
