package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store/sqlite"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

// TestConformance runs the directory's conformance suite on SQLite, each
// case in a fresh file.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) storetest.Dir { return storetest.MustOpenSQLite(tb) })
}

// TestSQLiteTwoHandles opens one file twice, as two processes would: the
// file's write lock alone serialises them, and a waiting Begin honours its
// context.
func TestSQLiteTwoHandles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := mustTwoHandles(t)
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
	s, err := sqlite.Open(ctx, path, nil)
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
		`DROP TABLE tenant_schedule`, `DROP TABLE api_tokens`, `DROP TABLE admin_actions`,
		`ALTER TABLE runs DROP COLUMN round_trips`, `ALTER TABLE runs DROP COLUMN lower_bound`,
		`ALTER TABLE runs DROP COLUMN plan_ms`, `ALTER TABLE runs DROP COLUMN throttle_wait_ms`,
		`ALTER TABLE runs DROP COLUMN review`, `ALTER TABLE runs DROP COLUMN reviewed_at`, `ALTER TABLE runs DROP COLUMN held`,
		`ALTER TABLE runs DROP COLUMN reviewed_by`, `ALTER TABLE runs DROP COLUMN skipped`,
		`DROP INDEX events_run`, `DROP TABLE tenant_registry`, `DROP TABLE delta_state`, `DROP TABLE delta_mirror_parts`,
		`ALTER TABLE runs DROP COLUMN mode`, `ALTER TABLE runs DROP COLUMN full_reason`, `ALTER TABLE runs DROP COLUMN critical_path`, `ALTER TABLE tenants DROP COLUMN directory_version`,
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

	s, err = sqlite.Open(ctx, path, nil)
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
	if want := []string{"0001_init", "0002_worker", "0003_run_figures", "0004_safety", "0005_admin", "0006_events_run",
		"0008_run_review_skipped", "0009_tenant_registry", "0010_access", "0011_delta", "0015_delta_mirror_parts"}; !reflect.DeepEqual(versions, want) {
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
	a, b := mustTwoHandles(t)
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

// mustTwoHandles opens one fresh file twice, as two processes would, with
// tenant t1 registered; both are closed at cleanup.
func mustTwoHandles(t *testing.T) (a, b *sqlite.DB) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	for _, h := range []**sqlite.DB{&a, &b} {
		db, err := sqlite.Open(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		*h = db
	}
	if err := a.RegisterTenant(ctx, sync.Tenant{ID: "t1", EntraTenantID: "e1", Settings: sync.DefaultTenantSettings()}); err != nil {
		t.Fatal(err)
	}
	return a, b
}
