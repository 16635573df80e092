-- The provisioning log and the event outbox are append-only, written in
-- bulk by a cycle's Apply (a large tenant's first cycle: 218,000 rows each)
-- and read one way each: the log by run in id order, the outbox by tenant
-- in id order. Two changes make every row cheaper to write:
--
-- * json instead of jsonb. No query looks inside these documents; they are
--   written once and read back whole. jsonb parsed every document into its
--   binary form on the way in: about a third of the log's COPY. (json also
--   takes what jsonb refused, \u0000 and repeated keys; entrasync writes
--   neither, and text columns beside them refuse NUL anyway.)
-- * One index each instead of two. The key each is read by becomes the
--   primary key; the id-only keys served no query (ids still come from
--   their sequences, one apart within a run, in the order the run wrote
--   them).
--
-- This rewrites both tables once (the type change) and builds their new
-- keys, holding both tables locked while it runs: on the development
-- machine, 6 s for a log and an outbox of a million rows each (about 4 s
-- of it the log's rewrite).
ALTER TABLE provisioning_log
    ALTER COLUMN fields DROP DEFAULT,
    ALTER COLUMN fields TYPE json USING fields::json,
    ALTER COLUMN fields SET DEFAULT '[]',
    ALTER COLUMN before TYPE json USING before::json,
    ALTER COLUMN after TYPE json USING after::json;
ALTER TABLE provisioning_log DROP CONSTRAINT provisioning_log_pkey;
DROP INDEX IF EXISTS provisioning_log_run;
ALTER TABLE provisioning_log ADD CONSTRAINT provisioning_log_pkey PRIMARY KEY (run_id, id);

ALTER TABLE events
    ALTER COLUMN data DROP DEFAULT,
    ALTER COLUMN data TYPE json USING data::json,
    ALTER COLUMN data SET DEFAULT '{}';
ALTER TABLE events DROP CONSTRAINT events_pkey;
DROP INDEX IF EXISTS events_tenant;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (tenant_id, id);
