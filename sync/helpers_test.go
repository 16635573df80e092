package sync_test

// The one file of this package's tests that knows the PostgreSQL adapter:
// mustPostgres opens it, and the SQL helpers below reach past sync.Store
// for what only a database shows (raw rows, writes no command makes).

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

// mustPostgres opens a directory on a fresh PostgreSQL schema, migrated,
// closed and dropped at cleanup.
func mustPostgres(tb testing.TB) sync.Store {
	tb.Helper()
	return storetest.MustOpen(tb)
}

// sqlOf is the database behind a store mustPostgres opened.
func sqlOf(tb testing.TB, db sync.Store) *sqlx.DB {
	tb.Helper()
	pg, ok := db.(interface{ SQL() *sqlx.DB })
	if !ok {
		tb.Fatalf("%T is not a PostgreSQL directory (open it with mustPostgres)", db)
	}
	return pg.SQL()
}

// exec runs a statement on the harness's PostgreSQL directory.
func (h *harness) exec(tb testing.TB, q string, args ...any) {
	tb.Helper()
	if _, err := sqlOf(tb, h.db).Exec(q, args...); err != nil {
		tb.Fatalf("exec %q: %v", q, err)
	}
}

// dump renders every directory table (runs excepted) row by row, so two dumps
// are equal only if nothing was written.
func (h *harness) dump(tb testing.TB, tables ...string) string {
	tb.Helper()
	if len(tables) == 0 {
		tables = []string{"tenants", "users", "user_paths", "groups", "memberships", "provisioning_log", "events"}
	}
	var b strings.Builder
	for _, t := range tables {
		var rows []string
		if err := sqlOf(tb, h.db).Select(&rows, `SELECT row_to_json(x)::text FROM `+t+` x ORDER BY 1`); err != nil {
			tb.Fatalf("dump %s: %v", t, err)
		}
		fmt.Fprintf(&b, "%s:%d\n%s\n", t, len(rows), strings.Join(rows, "\n"))
	}
	return b.String()
}
