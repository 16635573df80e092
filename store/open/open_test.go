package open_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

// TestExistingCreatesAndMigratesNothing: the read-only open of a mistyped
// SQLite path creates no file or directory, and a directory with pending
// migrations is refused, not migrated.
func TestExistingCreatesAndMigratesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "typo")
	path := filepath.Join(dir, "entrasync.db")
	if _, err := open.Existing(ctx, path, nil); sync.ErrorCode(err) != sync.ENOTFOUND {
		t.Fatalf("Existing(missing) = %v, want ENOTFOUND", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the read-only open created %s (%v)", dir, err)
	}
	s, err := open.URL(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.(*sqlite.DB).SQL().Exec(`DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_, err = open.Existing(ctx, path, nil)
	if sync.ErrorCode(err) != sync.EINVALID || !strings.Contains(err.Error(), "pending migration") {
		t.Fatalf("Existing(behind) = %v, want EINVALID naming the pending migration", err)
	}
	url := storetest.MustSchemaURL(t)
	if _, err := open.Existing(ctx, url, nil); sync.ErrorCode(err) != sync.EINVALID {
		t.Fatalf("Existing(fresh PostgreSQL schema) = %v, want EINVALID (pending migrations)", err)
	}
	db, err := postgres.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	ro, err := open.Existing(ctx, url, nil)
	if err != nil {
		t.Fatalf("Existing(migrated PostgreSQL schema): %v", err)
	}
	_ = ro.Close()
}

// TestOpenNeverEchoesThePassword: an unparsable URL and a refused login
// name the database without its password.
func TestOpenNeverEchoesThePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, raw := range []string{"postgres://admin:secretpw@127.0.0.1:notaport/x",
		"postgres://nobody:secretpw@127.0.0.1:1/x?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=nobody password=secretpw sslmode=disable connect_timeout=2"} {
		_, err := open.URL(ctx, raw, nil)
		if err == nil || strings.Contains(err.Error(), "secretpw") {
			t.Errorf("open.URL(%q) = %v: want an error without the password", raw, err)
		}
	}
}
