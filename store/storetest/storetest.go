// Package storetest gives each test its own PostgreSQL schema, or its own
// SQLite file.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/lib/pq" // the PostgreSQL driver

	"github.com/entrasync/entrasync/store"
)

// DefaultURL is the database tests use when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns TEST_DATABASE_URL or DefaultURL.
func URL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// MustSchemaURL creates a fresh schema, drops it at cleanup, and returns a
// connection URL whose search_path selects it. It fails the test with a clear
// message when PostgreSQL is unreachable; it never skips.
func MustSchemaURL(tb testing.TB) string {
	tb.Helper()
	base := URL()
	admin, err := sql.Open("postgres", base)
	if err != nil {
		tb.Fatalf("storetest: open %s: %v", redacted(base), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		tb.Fatalf("storetest: PostgreSQL is not reachable at %s (set TEST_DATABASE_URL, or start it with "+
			"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`): %v", redacted(base), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		_ = admin.Close()
		tb.Fatalf("storetest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("storetest: parse %s: %v", redacted(base), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// MustOpen opens a store on a fresh schema, migrated, closed at cleanup.
func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), MustSchemaURL(tb), nil)
	if err != nil {
		tb.Fatalf("storetest: open store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// MustOpenSQLite opens a SQLite store in a fresh file under tb.TempDir(),
// migrated, closed at cleanup.
func MustOpenSQLite(tb testing.TB) *store.SQLite {
	tb.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(tb.TempDir(), "entrasync.db"), nil)
	if err != nil {
		tb.Fatalf("storetest: open sqlite store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
