-- Who decided on a held run (C6), and the objects a run's plan skipped
-- (S2, S3, disabled users), so that `runs show` can list them.
ALTER TABLE runs
    ADD COLUMN reviewed_by text NOT NULL DEFAULT '',
    ADD COLUMN skipped jsonb NOT NULL DEFAULT '[]';
