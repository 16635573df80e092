-- Safety valves: pause (C8) and quarantine (C7) per tenant, and the review
-- of runs whose archives were held by the archive guard (C6).
ALTER TABLE tenant_schedule
    ADD COLUMN paused boolean NOT NULL DEFAULT false,
    ADD COLUMN failures integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error text NOT NULL DEFAULT '',
    ADD COLUMN quarantine_reason text NOT NULL DEFAULT '';

ALTER TABLE runs
    ADD COLUMN review text NOT NULL DEFAULT '',
    ADD COLUMN reviewed_at timestamptz,
    ADD COLUMN held integer NOT NULL DEFAULT 0;
