package sync_test

// The one file of this package's tests that knows the PostgreSQL adapter:
// mustPostgres opens it, and the helpers below reach past sync.Store for
// what only a database shows (raw rows, writes no command makes).

import (
	"context"
	"testing"

	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

// mustPostgres opens a directory on a fresh PostgreSQL schema, migrated,
// closed and dropped at cleanup.
func mustPostgres(tb testing.TB) sync.Store {
	tb.Helper()
	return storetest.MustOpen(tb)
}

// pgOf is the PostgreSQL directory behind a store mustPostgres opened.
func pgOf(tb testing.TB, db sync.Store) *postgres.DB {
	tb.Helper()
	pg, ok := db.(*postgres.DB)
	if !ok {
		tb.Fatalf("%T is not a PostgreSQL directory (open it with mustPostgres)", db)
	}
	return pg
}

// exec runs a statement on the harness's PostgreSQL directory.
func (h *harness) exec(tb testing.TB, q string, args ...any) {
	tb.Helper()
	if _, err := pgOf(tb, h.db).SQL().Exec(q, args...); err != nil {
		tb.Fatalf("exec %q: %v", q, err)
	}
}

// dump renders every directory table (runs excepted) row by row, so two dumps
// are equal only if nothing was written.
func (h *harness) dump(tb testing.TB, tables ...string) string {
	tb.Helper()
	d, err := pgOf(tb, h.db).Dump(context.Background(), tables...)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
