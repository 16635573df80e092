-- events_run served the foreign key from events to runs, which 0012
-- dropped; no query looks events up by run (the outbox is read by tenant
-- and id, events_tenant). Keeping it cost an index entry for every event:
-- about 0.15 s of a large tenant's first cycle (218,083 events).
DROP INDEX IF EXISTS events_run;
