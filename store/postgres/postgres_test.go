package postgres_test

import (
	"context"
	"testing"

	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/storetest"
)

// TestConformance runs the directory's conformance suite on PostgreSQL,
// each case in a fresh schema.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) storetest.Dir { return storetest.MustOpen(tb) })
}

// TestMigrateConcurrentStart opens one empty schema from several handles at
// once, as replicas of a deployment start together on first install: every
// one opens, the migrations are applied exactly once between them, and each
// handle reports the same schema version.
func TestMigrateConcurrentStart(t *testing.T) {
	t.Parallel()
	url := storetest.MustSchemaURL(t)
	const n = 4
	type result struct {
		db  *postgres.DB
		err error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			db, err := postgres.Open(context.Background(), url, nil)
			results <- result{db, err}
		}()
	}
	applied := map[string]int{}
	var versions []string
	var first *postgres.DB
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("open during a concurrent start: %v", r.err)
		}
		defer func() { _ = r.db.Close() }()
		if first == nil {
			first = r.db
		}
		for _, v := range r.db.Migrated() {
			applied[v]++
		}
		v, err := r.db.SchemaVersion(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	all, err := first.Migrations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		if applied[v] != 1 {
			t.Errorf("migration %s applied %d times across the handles, want once", v, applied[v])
		}
	}
	for _, v := range versions {
		if v != all[len(all)-1] {
			t.Errorf("a handle reports schema version %q, want %q", v, all[len(all)-1])
		}
	}
}
