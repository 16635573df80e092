package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ url, backend, target string }{
		{"postgres://u@h:5432/db?sslmode=disable", store.BackendPostgres, "postgres://u@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", store.BackendPostgres, "postgresql://u@h/db"},
		{"PostgreSQL://u@h/db", store.BackendPostgres, "PostgreSQL://u@h/db"},
		{"./entrasync.db", store.BackendSQLite, "entrasync.db"},
		{"entrasync.db", store.BackendSQLite, "entrasync.db"},
		{"/var/lib/entrasync/entrasync.db", store.BackendSQLite, "/var/lib/entrasync/entrasync.db"},
		{"sqlite:./data/x.db", store.BackendSQLite, "data/x.db"},
		{"sqlite:/abs/x.db", store.BackendSQLite, "/abs/x.db"},
		{"sqlite:///abs/x.db", store.BackendSQLite, "/abs/x.db"},
		{"sqlite://rel/x.db", store.BackendSQLite, "rel/x.db"},
		{"sqlite:file:x.db", store.BackendSQLite, "x.db"},
		{"file:x.db", store.BackendSQLite, "x.db"},
		{"file:///abs/my%20dir/x.db", store.BackendSQLite, "/abs/my dir/x.db"},
		{"file://localhost/abs/x.db", store.BackendSQLite, "/abs/x.db"},
		{"  ./spaced.db  ", store.BackendSQLite, "spaced.db"},
	}
	for _, c := range cases {
		want := c.target
		if c.backend == store.BackendSQLite {
			want = filepath.FromSlash(want)
		}
		backend, target, err := store.ParseURL(c.url)
		if err != nil || backend != c.backend || target != want {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", c.url, backend, target, err, c.backend, c.target)
		}
	}
	for _, bad := range []string{"", "  ", "mysql://h/db", "sqlite:", "sqlite::memory:", ":memory:", "file::memory:",
		"file:x.db?mode=ro", "file://otherhost/x.db"} {
		if _, _, err := store.ParseURL(bad); sync.ErrorCode(err) != sync.EINVALID {
			t.Errorf("ParseURL(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestDefaultSQLitePath(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/entrasync/entrasync.db"},
		{map[string]string{"XDG_DATA_HOME": "relative", "HOME": "/home/u"}, "/home/u/.local/share/entrasync/entrasync.db"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.local/share/entrasync/entrasync.db"},
		{map[string]string{}, "./entrasync.db"},
	}
	for _, c := range cases {
		if got := store.DefaultSQLitePath(env(c.env)); got != filepath.FromSlash(c.want) {
			t.Errorf("DefaultSQLitePath(%v) = %q, want %q", c.env, got, c.want)
		}
	}
}

func TestOpenURLSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state", "entrasync")
	path := filepath.Join(dir, "entrasync.db")
	for i, url := range []string{"sqlite:" + path, path} { // the second open finds everything in place
		s, err := store.OpenURL(ctx, url, nil)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if s.Backend() != store.BackendSQLite {
			t.Fatalf("Backend() = %q", s.Backend())
		}
		db := s.(*store.SQLite).SQL()
		var versions []string
		rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			_ = rows.Scan(&v)
			versions = append(versions, v)
		}
		_ = rows.Close()
		if len(versions) == 0 || versions[0] != "0001_init" {
			t.Fatalf("schema_migrations = %v", versions)
		}
		// Every pooled connection has the settings, not only the first.
		var conns []interface{ Close() error }
		for j := 0; j < 4; j++ {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			var fk, timeout int
			var mode string
			if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil {
				t.Fatal(err)
			}
			if fk != 1 || mode != "wal" || timeout <= 0 {
				t.Fatalf("connection %d: foreign_keys=%d journal_mode=%s busy_timeout=%d", j, fk, mode, timeout)
			}
		}
		for _, c := range conns {
			_ = c.Close()
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode = %v, %v; want 0700", st.Mode(), err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode = %v, %v; want 0600", st.Mode(), err)
	}
}

func TestOpenURLPostgres(t *testing.T) {
	t.Parallel()
	s, err := store.OpenURL(context.Background(), storetest.MustSchemaURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if s.Backend() != store.BackendPostgres {
		t.Fatalf("Backend() = %q", s.Backend())
	}
	if _, ok := s.(*store.DB); !ok {
		t.Fatalf("OpenURL(postgres) = %T", s)
	}
}

func TestOpenURLRejects(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "mysql://h/db", ":memory:", "sqlite::memory:"} {
		if s, err := store.OpenURL(context.Background(), bad, nil); err == nil || s != nil || sync.ErrorCode(err) != sync.EINVALID {
			t.Errorf("OpenURL(%q) = %v, %v; want nil, EINVALID", bad, s, err)
		}
	}
	// A file where the directory should be.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenURL(context.Background(), filepath.Join(blocker, "x.db"), nil); err == nil {
		t.Error("OpenURL under a regular file succeeded")
	}
}

// TestSQLiteTwoHandles opens one file twice, as two processes would: the
// file's write lock alone serialises them, and a waiting Begin honours its
// context.
func TestSQLiteTwoHandles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Close() }()
	b, err := store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if err := a.RegisterTenant(ctx, sync.Tenant{ID: "t1", EntraTenantID: "e1", Settings: sync.DefaultTenantSettings()}); err != nil {
		t.Fatal(err)
	}
	txA, err := a.Begin(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = b.Begin(short, "t1")
	cancel()
	if err == nil {
		t.Fatal("second handle began while the first held the write lock")
	}
	done := make(chan error, 1)
	go func() {
		tx, err := b.Begin(ctx, "t1")
		if err == nil {
			err = tx.Rollback()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("second handle's Begin returned while the first held the lock: %v", err)
	default:
	}
	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("second handle's Begin after commit: %v", err)
	}
	// Reads are not blocked by a writer.
	txA, err = a.Begin(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = txA.Rollback() }()
	readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.Users(readCtx, "t1", ""); err != nil {
		t.Fatalf("read during another handle's write transaction: %v", err)
	}
	if _, err := a.Runs(readCtx, "", 0); err != nil {
		t.Fatalf("read during own write transaction: %v", err)
	}
}

// TestSQLiteUpgradeFrom0001 opens a directory that only has the first
// migration, as an older binary left it: the worker tables and the run
// figures are added and the old runs read back with zero figures.
func TestSQLiteUpgradeFrom0001(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterTenant(ctx, sync.Tenant{ID: "t1", EntraTenantID: "e1", Settings: sync.DefaultTenantSettings()}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	run := &sync.Run{TenantID: "t1", Trigger: "cli", StartedAt: start, FinishedAt: start, Outcome: sync.OutcomeFailed}
	if err := s.RecordRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	// Back to the schema of 0001_init.
	for _, q := range []string{
		`DROP TABLE tenant_schedule`, `DROP TABLE api_tokens`,
		`ALTER TABLE runs DROP COLUMN round_trips`, `ALTER TABLE runs DROP COLUMN lower_bound`,
		`ALTER TABLE runs DROP COLUMN plan_ms`, `ALTER TABLE runs DROP COLUMN throttle_wait_ms`,
		`ALTER TABLE runs DROP COLUMN review`, `ALTER TABLE runs DROP COLUMN reviewed_at`, `ALTER TABLE runs DROP COLUMN held`,
		`DROP INDEX events_run`,
		`ALTER TABLE tenants DROP COLUMN settings_overrides`, `ALTER TABLE tenants DROP COLUMN disconnected_at`,
		`DELETE FROM schema_migrations WHERE version <> '0001_init'`,
	} {
		if _, err := s.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer func() { _ = s.Close() }()
	var versions []string
	rows, err := s.SQL().QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v string
		_ = rows.Scan(&v)
		versions = append(versions, v)
	}
	_ = rows.Close()
	if want := []string{"0001_init", "0002_worker", "0003_run_figures", "0004_safety", "0005_admin", "0006_events_run"}; !reflect.DeepEqual(versions, want) {
		t.Fatalf("schema_migrations = %v, want %v", versions, want)
	}
	got, _, err := s.Run(ctx, run.ID)
	if err != nil || got.RoundTrips != 0 || got.LowerBound != 0 || got.PlanMillis != 0 || got.ThrottleMs != 0 {
		t.Fatalf("old run after upgrade = %+v, %v", got, err)
	}
	if ok, err := s.ClaimTenant(ctx, "t1", "h1", time.Minute, true); err != nil || !ok {
		t.Fatalf("claim after upgrade = %v, %v", ok, err)
	}
	// A row made by hand takes the defaults, in the layout the lease
	// queries compare as text.
	if _, err := s.SQL().ExecContext(ctx, `INSERT INTO tenants (id, entra_tenant_id) VALUES ('t2', 'e2')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SQL().ExecContext(ctx, `INSERT INTO tenant_schedule (tenant_id) VALUES ('t2')`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if ok, err := s.ClaimTenant(ctx, "t2", "h1", time.Minute, true); err != nil || !ok {
		t.Fatalf("dueOnly claim of a hand-made schedule row = %v, %v", ok, err)
	}
	sc, err := s.Schedule(ctx, "t2")
	if err != nil || sc.LeaseHolder != "h1" || time.Since(sc.NextDue) > time.Minute || time.Since(sc.NextDue) < 0 {
		t.Fatalf("schedule of a hand-made row = %+v, %v", sc, err)
	}
}

// TestSQLiteLeaseAcrossHandles: with the file opened twice, as by two
// processes, a claim from one waits for the other's open cycle transaction
// (or gives up when its context ends, without claiming), then goes through.
func TestSQLiteLeaseAcrossHandles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Close() }()
	b, err := store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if err := a.RegisterTenant(ctx, sync.Tenant{ID: "t1", EntraTenantID: "e1", Settings: sync.DefaultTenantSettings()}); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.ClaimTenant(ctx, "t1", "a", time.Minute, false); err != nil || !ok {
		t.Fatalf("claim by a = %v, %v", ok, err)
	}
	tx, err := a.Begin(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	ok, err := b.ClaimTenant(short, "t1", "b", time.Minute, false)
	cancel()
	if err == nil || ok || sync.ErrorCode(err) != sync.EUNAVAILABLE || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("claim by b while a's transaction is open, short deadline = %v, %v; want EUNAVAILABLE", ok, err)
	}
	done := make(chan error, 1)
	go func() {
		ok, err := b.RenewLease(ctx, "t1", "b", time.Minute)
		if err == nil && ok {
			err = errors.New("b renewed a's lease")
		}
		done <- err
	}()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("renewal by b: %v", err)
	}
	if ok, err := a.RenewLease(ctx, "t1", "a", time.Minute); err != nil || !ok {
		t.Fatalf("renewal by a after its commit = %v, %v", ok, err)
	}
	if sc, err := b.Schedule(ctx, "t1"); err != nil || sc.LeaseHolder != "a" {
		t.Fatalf("schedule seen by b = %+v, %v", sc, err)
	}
}
