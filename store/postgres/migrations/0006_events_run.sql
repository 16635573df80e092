-- Events by run: a run's events are looked up by their run, and the foreign
-- key from events to runs is checked with this index rather than a scan
-- when a cycle finishes its run record.
CREATE INDEX events_run ON events (run_id);
