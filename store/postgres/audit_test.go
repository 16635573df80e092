package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/lib/pq"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/storetest"
)

// TestAuditRowsKeptThroughTheirCheaperForm: migration 0016 turns the
// provisioning log's and the outbox's jsonb columns into json and keys them
// by what they are read by (run, id; tenant, id). A database that holds log
// rows and events from before keeps every one of them, documents and all,
// and still refuses a second row of the same key or a document that is not
// JSON.
func TestAuditRowsKeptThroughTheirCheaperForm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.MustSchemaURL(t)
	raw, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	before := fstest.MapFS{}
	if err := fs.WalkDir(postgres.Migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path >= "0016" {
			return err
		}
		b, err := fs.ReadFile(postgres.Migrations, path)
		before[path] = &fstest.MapFile{Data: b}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Up to 0015 first, as a database of an earlier release.
	old, err := postgres.OpenWith(ctx, url, nil, store.OpenOptions{ReadOnly: true, AllowPending: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Migrate(ctx, before); err != nil {
		t.Fatal(err)
	}
	old.Close()

	must := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	must(`INSERT INTO tenants (id, entra_tenant_id) VALUES ('t1', 'e1')`)
	must(`INSERT INTO runs (id, tenant_id, started_at, finished_at, outcome) VALUES (1, 't1', now(), now(), 'applied')`)
	must(`INSERT INTO provisioning_log (run_id, tenant_id, status, action, entity, entra_id, label, fields, before, after)
		VALUES (1, 't1', 'applied', 'update', 'user', 'u1', 'Ann', '[{"name": "mail", "old": "a", "new": "b"}]', '{"mail": "a"}', '{"mail": "b"}'),
		       (1, 't1', 'applied', 'create', 'user', 'u2', 'Bo', '[]', NULL, '{"mail": "ü@example.com"}')`)
	must(`INSERT INTO events (tenant_id, run_id, type, entra_id, data) VALUES ('t1', 1, 'user.created', 'u2', '{"email": "ü@example.com"}'), ('t1', 1, 'user.invited', 'u2', DEFAULT)`)

	db, err := postgres.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var got []string
	rows, err := raw.QueryContext(ctx, `SELECT label || ' ' || fields::text || ' ' || coalesce(before::text, '-') || ' ' || coalesce(after::text, '-') FROM provisioning_log WHERE run_id = 1 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	rows.Close()
	want := []string{
		`Ann [{"new": "b", "old": "a", "name": "mail"}] {"mail": "a"} {"mail": "b"}`,
		`Bo [] - {"mail": "ü@example.com"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("log after 0016:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var events string
	if err := raw.QueryRowContext(ctx, `SELECT string_agg(type || ' ' || data::text, '; ' ORDER BY id) FROM events WHERE tenant_id = 't1'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != `user.created {"email": "ü@example.com"}; user.invited {}` {
		t.Fatalf("events after 0016: %s", events)
	}

	var types string
	if err := raw.QueryRowContext(ctx, `SELECT string_agg(table_name || '.' || column_name || ' ' || data_type, ', ' ORDER BY table_name, column_name)
		FROM information_schema.columns WHERE table_schema = current_schema() AND column_name IN ('fields', 'before', 'after', 'data')
		AND table_name IN ('provisioning_log', 'events')`).Scan(&types); err != nil {
		t.Fatal(err)
	}
	if types != "events.data json, provisioning_log.after json, provisioning_log.before json, provisioning_log.fields json" {
		t.Fatalf("column types after 0016: %s", types)
	}

	refused := func(what, code, q string) {
		t.Helper()
		_, err := raw.ExecContext(ctx, q)
		var pe *pq.Error
		if !errors.As(err, &pe) || string(pe.Code) != code {
			t.Fatalf("%s: %v, want %s", what, err, code)
		}
	}
	refused("a second log row of one key", "23505", `INSERT INTO provisioning_log (id, run_id, tenant_id, status, action, entity) SELECT id, run_id, tenant_id, status, action, entity FROM provisioning_log LIMIT 1`)
	refused("a second event of one key", "23505", `INSERT INTO events (id, tenant_id, type) SELECT id, tenant_id, type FROM events LIMIT 1`)
	refused("a log document that is not JSON", "22P02", `INSERT INTO provisioning_log (run_id, tenant_id, status, action, entity, after) VALUES (1, 't1', 'applied', 'create', 'user', '{not json')`)
	refused("an event document that is not JSON", "22P02", `INSERT INTO events (tenant_id, type, data) VALUES ('t1', 'x', '{not json')`)
}
