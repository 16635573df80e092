-- Safety valves: pause (C8) and quarantine (C7) per tenant, and the review
-- of runs whose archives were held by the archive guard (C6). It mirrors
-- migrations/postgres/0004_safety.sql.
ALTER TABLE tenant_schedule ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenant_schedule ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenant_schedule ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE tenant_schedule ADD COLUMN quarantine_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN review TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN reviewed_at TEXT;
ALTER TABLE runs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
