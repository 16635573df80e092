-- Who decided on a held run, and the objects a run's plan skipped (mirrors
-- store/postgres/migrations/0008_run_review_skipped.sql).
ALTER TABLE runs ADD COLUMN reviewed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN skipped TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(skipped));
