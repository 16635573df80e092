package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/lib/pq"

	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/storetest"
)

// TestDirectoryRowsNameTheirTenantsUsersAndGroups: users, paths and
// memberships are checked once per statement (migration 0013), as strictly
// as the foreign keys they replace and more: a row naming a missing tenant,
// user or group, or a user or group of another tenant, fails the statement
// with 23503, whether the statement writes a few rows (checked one by one)
// or thousands (checked against the tenant's ids at once); a tenant with
// users is not deleted; deleting a user or group takes its rows with it.
func TestDirectoryRowsNameTheirTenantsUsersAndGroups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.MustSchemaURL(t)
	db, err := postgres.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	exec := func(q string, args ...any) error {
		_, err := raw.ExecContext(ctx, q, args...)
		return err
	}
	must := func(q string, args ...any) {
		t.Helper()
		if err := exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	refused := func(what, q string, args ...any) {
		t.Helper()
		err := exec(q, args...)
		var pe *pq.Error
		if !errors.As(err, &pe) || pe.Code != "23503" {
			t.Fatalf("%s: %v, want a 23503 violation", what, err)
		}
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := raw.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	must(`INSERT INTO tenants (id, entra_tenant_id) VALUES ('t1', 'e1'), ('t2', 'e2')`)
	must(`INSERT INTO users (tenant_id, entra_id, origin, status) SELECT 't1', 'u' || i, 'provisioned', 'staged' FROM generate_series(1, 1500) i`)
	must(`INSERT INTO users (tenant_id, entra_id, origin, status) VALUES ('t2', 'other', 'provisioned', 'staged')`)
	must(`INSERT INTO groups (tenant_id, entra_id, origin) VALUES ('t1', 'g1', 'provisioned'), ('t2', 'g2', 'provisioned')`)
	refused("a user of no tenant", `INSERT INTO users (tenant_id, entra_id, origin, status) VALUES ('nope', 'x', 'provisioned', 'staged')`)
	refused("a user moved to no tenant", `UPDATE users SET tenant_id = 'nope' WHERE entra_id = 'other'`)
	refused("a tenant with users deleted", `DELETE FROM tenants WHERE id = 't2'`)
	refused("a tenant's id changed", `UPDATE tenants SET id = 't9' WHERE id = 't2'`)
	var u1, other, g1, g2 int64
	_ = raw.QueryRowContext(ctx, `SELECT id FROM users WHERE entra_id = 'u1'`).Scan(&u1)
	_ = raw.QueryRowContext(ctx, `SELECT id FROM users WHERE entra_id = 'other'`).Scan(&other)
	_ = raw.QueryRowContext(ctx, `SELECT id FROM groups WHERE entra_id = 'g1'`).Scan(&g1)
	_ = raw.QueryRowContext(ctx, `SELECT id FROM groups WHERE entra_id = 'g2'`).Scan(&g2)

	// A few rows.
	must(`INSERT INTO user_paths (user_id, tenant_id, path) VALUES ($1, 't1', 'direct')`, u1)
	refused("a path to another tenant's user", `INSERT INTO user_paths (user_id, tenant_id, path) VALUES ($1, 't1', 'direct')`, other)
	refused("a path to no user", `INSERT INTO user_paths (user_id, tenant_id, path) VALUES (-1, 't1', 'direct')`)
	must(`INSERT INTO memberships (group_id, user_id, tenant_id) VALUES ($1, $2, 't1')`, g1, u1)
	refused("a membership of another tenant's group", `INSERT INTO memberships (group_id, user_id, tenant_id) VALUES ($1, $2, 't1')`, g2, u1)
	refused("a membership of another tenant's user", `INSERT INTO memberships (group_id, user_id, tenant_id) VALUES ($1, $2, 't1')`, g1, other)
	refused("a path moved to no user", `UPDATE user_paths SET user_id = -1 WHERE user_id = $1`, u1)
	refused("a membership moved to another tenant's group", `UPDATE memberships SET group_id = $1 WHERE user_id = $2`, g2, u1)

	// Thousands of rows at once, one of them bad.
	many := `SELECT id, 't1', 'group:g1' FROM users WHERE tenant_id = 't1'`
	refused("1,500 paths, one to another tenant's user", `INSERT INTO user_paths (user_id, tenant_id, path) `+many+` UNION ALL SELECT $1, 't1', 'group:g1'`, other)
	refused("1,500 paths, one to no user", `INSERT INTO user_paths (user_id, tenant_id, path) `+many+` UNION ALL SELECT -1, 't1', 'group:g1'`)
	must(`INSERT INTO user_paths (user_id, tenant_id, path) ` + many)
	manyM := `SELECT $1::bigint, id, 't1' FROM users WHERE tenant_id = 't1' AND id <> $2`
	refused("1,499 memberships, one of another tenant's group", `INSERT INTO memberships (group_id, user_id, tenant_id) `+manyM+` UNION ALL SELECT $3, $2, 't1'`, g1, u1, g2)
	must(`INSERT INTO memberships (group_id, user_id, tenant_id) `+manyM, g1, u1)
	if n := count(`SELECT count(*) FROM user_paths`); n != 1501 {
		t.Fatalf("%d paths, want 1,501", n)
	}

	// COPY, as Apply writes: 1,500 rows, one bad, fail; the good ones pass.
	copyPaths := func(path string, bad bool) error {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		rows, err := tx.QueryContext(ctx, `SELECT id FROM users WHERE tenant_id = 't1' ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			_ = rows.Scan(&id)
			ids = append(ids, id)
		}
		_ = rows.Close()
		if bad {
			ids = append(ids, other)
		}
		stmt, err := tx.PrepareContext(ctx, pq.CopyIn("user_paths", "user_id", "tenant_id", "path"))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, id, "t1", path); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := stmt.ExecContext(ctx); err != nil {
			return err
		}
		_ = stmt.Close()
		return tx.Commit()
	}
	var pe *pq.Error
	if err := copyPaths("direct:copy", true); !errors.As(err, &pe) || pe.Code != "23503" {
		t.Fatalf("a COPY of 1,501 paths, one to another tenant's user: %v, want a 23503 violation", err)
	}
	if err := copyPaths("direct:copy", false); err != nil {
		t.Fatalf("a COPY of 1,500 good paths: %v", err)
	}

	// A session whose search_path names another schema, writing to this
	// one by name, is checked against this schema's users.
	var schema string
	_ = raw.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema)
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET search_path = pg_catalog`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO `+schema+`.user_paths (user_id, tenant_id, path) VALUES ($1, 't1', 'elsewhere')`, u1); err != nil {
		t.Fatalf("a good path written under another search_path: %v", err)
	}
	_, err = conn.ExecContext(ctx, `INSERT INTO `+schema+`.user_paths (user_id, tenant_id, path) VALUES ($1, 't1', 'elsewhere')`, other)
	if !errors.As(err, &pe) || pe.Code != "23503" {
		t.Fatalf("a bad path written under another search_path: %v, want a 23503 violation", err)
	}

	// Ids do not change; deletes cascade.
	refused("a user's id changed", `UPDATE users SET id = -5 WHERE id = $1`, u1)
	must(`DELETE FROM users WHERE id = $1`, u1)
	if n := count(`SELECT count(*) FROM user_paths WHERE user_id = $1`, u1) + count(`SELECT count(*) FROM memberships WHERE user_id = $1`, u1); n != 0 {
		t.Fatalf("%d rows of a deleted user left", n)
	}
	must(`DELETE FROM groups WHERE id = $1`, g1)
	if n := count(`SELECT count(*) FROM memberships WHERE group_id = $1`, g1); n != 0 {
		t.Fatalf("%d memberships of a deleted group left", n)
	}
}
