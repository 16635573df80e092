-- The provisioning log and the event outbox are written only by a cycle's
-- Apply, in the transaction that inserts their run, with the id that insert
-- returned, and no run is ever deleted: their foreign keys to runs guarded
-- nothing and checked every row, one lock of the run's row each (about a
-- second for every 300,000 rows, the size of a large tenant's first cycle).
-- The directory's own foreign keys (users, paths, groups, memberships) stay.
ALTER TABLE provisioning_log DROP CONSTRAINT IF EXISTS provisioning_log_run_id_fkey;
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_run_id_fkey;
