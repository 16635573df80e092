-- Figures of a run for large tenants: HTTP round trips next to their lower
-- bound, time spent planning and waiting out throttling. It mirrors
-- migrations/postgres/0003_run_figures.sql (SQLite adds one column per
-- statement).
ALTER TABLE runs ADD COLUMN round_trips INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lower_bound INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN plan_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN throttle_wait_ms INTEGER NOT NULL DEFAULT 0;
