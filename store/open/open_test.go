package open_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/open"
	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/sqlite"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

func TestOpenURLSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state", "entrasync")
	path := filepath.Join(dir, "entrasync.db")
	for i, url := range []string{"sqlite:" + path, path} { // the second open finds everything in place
		s, err := open.URL(ctx, url, nil)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if s.Backend() != store.BackendSQLite {
			t.Fatalf("Backend() = %q", s.Backend())
		}
		db := s.(*sqlite.DB).SQL()
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
	s, err := open.URL(context.Background(), storetest.MustSchemaURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if s.Backend() != store.BackendPostgres {
		t.Fatalf("Backend() = %q", s.Backend())
	}
	if _, ok := s.(*postgres.DB); !ok {
		t.Fatalf("URL(postgres) = %T", s)
	}
}

func TestOpenURLRejects(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "mysql://h/db", ":memory:", "sqlite::memory:"} {
		if s, err := open.URL(context.Background(), bad, nil); err == nil || s != nil || sync.ErrorCode(err) != sync.EINVALID {
			t.Errorf("URL(%q) = %v, %v; want nil, EINVALID", bad, s, err)
		}
	}
	// A file where the directory should be.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := open.URL(context.Background(), filepath.Join(blocker, "x.db"), nil); err == nil {
		t.Error("URL under a regular file succeeded")
	}
}
