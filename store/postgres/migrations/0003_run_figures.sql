-- Figures of a run for large tenants: HTTP round trips next to their lower
-- bound, time spent planning and waiting out throttling.
ALTER TABLE runs
    ADD COLUMN round_trips integer NOT NULL DEFAULT 0,
    ADD COLUMN lower_bound integer NOT NULL DEFAULT 0,
    ADD COLUMN plan_ms bigint NOT NULL DEFAULT 0,
    ADD COLUMN throttle_wait_ms bigint NOT NULL DEFAULT 0;
