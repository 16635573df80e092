package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

// TestApplyOnABackendThatWasTerminatedFails: the apply's COPYs run on the
// write transaction's own connection (copy.go). When that connection dies
// under the cycle (its backend terminated, as an administrator or a
// failover does), the apply and the rollback after it end with an error
// at once: nothing waits for the dead connection, and the pool gets a
// working one back.
func TestApplyOnABackendThatWasTerminatedFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := storetest.MustSchemaURL(t)
	app := fmt.Sprintf("entrasync-copytest-%d", time.Now().UnixNano())
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	db, err := postgres.Open(ctx, base+sep+"application_name="+app, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := db.RegisterTenant(ctx, sync.Tenant{ID: "t1", EntraTenantID: "e1", Settings: sync.DefaultTenantSettings()}); err != nil {
		t.Fatal(err)
	}
	snap := &sync.Snapshot{Users: map[string]sync.EntraUser{}, AssignmentsListed: 3}
	for i := range 3 {
		id := fmt.Sprintf("0000000%d-0000-4000-8000-000000000000", i)
		snap.Users[id] = sync.EntraUser{ID: id, UserPrincipalName: fmt.Sprintf("u%d@x.test", i), Mail: fmt.Sprintf("u%d@x.test", i), AccountEnabled: true}
		snap.DirectUsers = append(snap.DirectUsers, id)
	}

	tctx, cancel := context.WithTimeout(ctx, time.Minute) // the transaction's own context ends late
	defer cancel()
	tx, err := db.Begin(tctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := tx.State(tctx)
	if err != nil {
		t.Fatal(err)
	}
	plan := sync.Diff(snap, st, time.Now())
	var killed int
	if err := raw.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND state LIKE 'idle in transaction%'`, app).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d backends in a transaction, want 1: %v", killed, err)
	}
	time.Sleep(100 * time.Millisecond) // the backend is gone

	done := make(chan error, 1)
	go func() {
		run := &sync.Run{TenantID: "t1", Trigger: "test", StartedAt: time.Now(), Outcome: sync.OutcomeSucceeded}
		err := tx.Apply(tctx, run, plan, plan.Events())
		_ = tx.Rollback()
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an apply on a terminated backend succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("an apply on a terminated backend did not end (it waited for the dead connection)")
	}

	// The pool still serves.
	if _, err := db.Users(ctx, "t1", ""); err != nil {
		t.Fatalf("the directory after a dead connection: %v", err)
	}
}
