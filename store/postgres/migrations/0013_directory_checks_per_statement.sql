-- The users, paths and memberships of the directory are checked against
-- their tenants, users and groups once per statement instead of once per row.
--
-- A foreign key checks each inserted row with a query of its own (an executor
-- started and a row locked per row): about 1.5 s of the 4.3 s a large tenant's
-- first cycle spends applying its 87,229 users, 188,589 paths and 130,354
-- memberships. The triggers below check all the rows a statement inserted or
-- changed at once, paths and memberships against the users and groups of the
-- rows' own tenant (which the foreign keys did not: a path could name another
-- tenant's user). A violation is SQLSTATE 23503, as a foreign key's is.
--
-- What the foreign keys' row locks guarded against, a row deleted while a row
-- naming it is written, cannot happen: no code deletes users or groups (a
-- purge keeps a tombstone), every write to a tenant's users, paths and
-- memberships holds the tenant's row lock, and a tenant is deleted only when
-- nothing names it (the trigger on tenants below checks that again under the
-- row's lock). Should a user or group ever be deleted, the triggers on users
-- and groups still take its paths and memberships with it, as ON DELETE
-- CASCADE did (TRUNCATE, which no code runs, is no longer refused).
-- The functions name the tables of the schema they were created in
-- (search_path FROM CURRENT), as a foreign key names its table, whatever
-- the search_path of the session that writes.

ALTER TABLE users DROP CONSTRAINT IF EXISTS users_tenant_id_fkey;
ALTER TABLE user_paths DROP CONSTRAINT IF EXISTS user_paths_user_id_fkey;
ALTER TABLE memberships DROP CONSTRAINT IF EXISTS memberships_user_id_fkey;
ALTER TABLE memberships DROP CONSTRAINT IF EXISTS memberships_group_id_fkey;

-- No id of a tenant, user or group changes under the rows naming it.
CREATE FUNCTION directory_ids_kept() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.id <> OLD.id THEN
        RAISE EXCEPTION '%: an id does not change', TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE FUNCTION users_checked() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT tenant_id FROM new_rows) n
               WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = n.tenant_id)) THEN
        RAISE EXCEPTION 'users: a user names no tenant' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER users_inserted AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_checked();
CREATE TRIGGER users_updated AFTER UPDATE ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_checked();

CREATE FUNCTION tenants_deleted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM users WHERE tenant_id = OLD.id) THEN
        RAISE EXCEPTION 'tenants: tenant % still has users', OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER tenants_deleted BEFORE DELETE ON tenants FOR EACH ROW EXECUTE FUNCTION tenants_deleted();
CREATE TRIGGER tenants_id_kept BEFORE UPDATE OF id ON tenants FOR EACH ROW EXECUTE FUNCTION directory_ids_kept();

-- Few rows are checked one by one through the primary keys; many against
-- the tenant's ids hashed once (NOT IN over a subquery).
CREATE FUNCTION user_paths_checked() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' SET search_path FROM CURRENT AS $$
DECLARE
    t text;
    bad boolean;
BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT 1000) few) < 1000 THEN
        bad := EXISTS (SELECT 1 FROM new_rows n
                       WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = n.user_id AND u.tenant_id = n.tenant_id));
    ELSE
        bad := false;
        FOR t IN SELECT DISTINCT tenant_id FROM new_rows LOOP
            bad := bad OR EXISTS (SELECT 1 FROM new_rows n
                                  WHERE n.tenant_id = t AND n.user_id NOT IN (SELECT id FROM users WHERE tenant_id = t));
        END LOOP;
    END IF;
    IF bad THEN
        RAISE EXCEPTION 'user_paths: a path names no user of its tenant' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION memberships_checked() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' SET search_path FROM CURRENT AS $$
DECLARE
    t text;
    bad boolean;
BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT 1000) few) < 1000 THEN
        bad := EXISTS (SELECT 1 FROM new_rows n
                       WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = n.user_id AND u.tenant_id = n.tenant_id)
                          OR NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = n.group_id AND g.tenant_id = n.tenant_id));
    ELSE
        bad := false;
        FOR t IN SELECT DISTINCT tenant_id FROM new_rows LOOP
            bad := bad OR EXISTS (SELECT 1 FROM new_rows n
                                  WHERE n.tenant_id = t AND (n.user_id NOT IN (SELECT id FROM users WHERE tenant_id = t)
                                                          OR n.group_id NOT IN (SELECT id FROM groups WHERE tenant_id = t)));
        END LOOP;
    END IF;
    IF bad THEN
        RAISE EXCEPTION 'memberships: a membership names no user or group of its tenant' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER user_paths_inserted AFTER INSERT ON user_paths
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_paths_checked();
CREATE TRIGGER user_paths_updated AFTER UPDATE ON user_paths
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_paths_checked();
CREATE TRIGGER memberships_inserted AFTER INSERT ON memberships
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memberships_checked();
CREATE TRIGGER memberships_updated AFTER UPDATE ON memberships
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION memberships_checked();

-- ON DELETE CASCADE.
CREATE FUNCTION users_deleted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM user_paths WHERE user_id IN (SELECT id FROM old_rows);
    DELETE FROM memberships WHERE user_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;
CREATE TRIGGER users_deleted AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION users_deleted();

CREATE FUNCTION groups_deleted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM memberships WHERE group_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;
CREATE TRIGGER groups_deleted AFTER DELETE ON groups
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION groups_deleted();

CREATE TRIGGER users_id_kept BEFORE UPDATE OF id ON users FOR EACH ROW EXECUTE FUNCTION directory_ids_kept();
CREATE TRIGGER groups_id_kept BEFORE UPDATE OF id ON groups FOR EACH ROW EXECUTE FUNCTION directory_ids_kept();
