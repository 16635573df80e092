// Package storetest holds the conformance suite every directory backend
// passes (Run), and gives each test its own PostgreSQL schema or SQLite
// file.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/sqlite"
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
	var b [6]byte
	_, _ = rand.Read(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, drop, err := postgres.CreateSchema(ctx, URL(), "t_"+hex.EncodeToString(b[:]))
	if err != nil {
		tb.Fatalf("storetest: %v (set TEST_DATABASE_URL, or start PostgreSQL with "+
			"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`)", err)
	}
	tb.Cleanup(drop)
	return u
}

// MustOpen opens a store on a fresh schema, migrated, closed at cleanup.
func MustOpen(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), MustSchemaURL(tb), nil)
	if err != nil {
		tb.Fatalf("storetest: open store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// MustOpenSQLite opens a SQLite store in a fresh file under tb.TempDir(),
// migrated, closed at cleanup.
func MustOpenSQLite(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "entrasync.db"), nil)
	if err != nil {
		tb.Fatalf("storetest: open sqlite store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}
