-- Events by run (mirrors migrations/postgres/0006_events_run.sql).
CREATE INDEX events_run ON events (run_id);
