package main

import (
	"context"
	"testing"

	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/sync"
)

// mustPostgres opens the PostgreSQL directory at url (a schema from
// storetest.MustSchemaURL), migrated, closed at cleanup: the one place the
// tests of this package open a store themselves rather than through the
// commands.
func mustPostgres(tb testing.TB, url string) sync.Store {
	tb.Helper()
	db, err := postgres.Open(context.Background(), url, nil)
	if err != nil {
		tb.Fatalf("open the test schema: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}
