-- Administration (SPEC.md sections 3 and 5): tenant-level setting overrides,
-- which win over the settings the configuration registers (RegisterTenant
-- writes only settings, administrators only settings_overrides), and the
-- time a tenant was disconnected (its provisioned users and groups made
-- manual; NULL while connected). It mirrors
-- migrations/postgres/0005_admin.sql (SQLite adds one column per statement).
ALTER TABLE tenants ADD COLUMN settings_overrides TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings_overrides));
ALTER TABLE tenants ADD COLUMN disconnected_at TEXT;
