package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	gosync "sync"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// Conformance cases for the worker's leases, the admin API tokens and the
// figures of a run; they are listed in conformance and run on every backend.

// leasesOf is dir as the lease cases use it.
func leasesOf(tb testing.TB, dir store.Store) store.Store {
	tb.Helper()
	return dir
}

func mustClaim(tb testing.TB, l sync.Leaser, tenant, holder string, ttl time.Duration, dueOnly, want bool) {
	tb.Helper()
	got, err := l.ClaimTenant(context.Background(), tenant, holder, ttl, dueOnly)
	if err != nil || got != want {
		tb.Fatalf("ClaimTenant(%s, %s, %v, dueOnly %v) = %v, %v; want %v", tenant, holder, ttl, dueOnly, got, err, want)
	}
}

func mustRenew(tb testing.TB, l sync.Leaser, tenant, holder string, ttl time.Duration, want bool) {
	tb.Helper()
	got, err := l.RenewLease(context.Background(), tenant, holder, ttl)
	if err != nil || got != want {
		tb.Fatalf("RenewLease(%s, %s, %v) = %v, %v; want %v", tenant, holder, ttl, got, err, want)
	}
}

func mustRelease(tb testing.TB, l sync.Leaser, tenant, holder string, after time.Duration) {
	tb.Helper()
	if err := l.ReleaseTenant(context.Background(), tenant, holder, after); err != nil {
		tb.Fatalf("ReleaseTenant(%s, %s, %v): %v", tenant, holder, after, err)
	}
}

func mustSchedule(tb testing.TB, l store.Store, tenant string) sync.Schedule {
	tb.Helper()
	sc, err := l.Schedule(context.Background(), tenant)
	if err != nil {
		tb.Fatalf("Schedule(%s): %v", tenant, err)
	}
	if sc.NextDue.Location() != time.UTC || sc.LeaseUntil != nil && sc.LeaseUntil.Location() != time.UTC {
		tb.Fatalf("Schedule(%s) times not in UTC: %+v", tenant, sc)
	}
	return sc
}

// within reports whether t lies in [lo-slack, hi+slack]. The database's clock
// and the test's are the same host's, read a moment apart.
func within(t, lo, hi time.Time) bool {
	const slack = 2 * time.Second
	return !t.Before(lo.Add(-slack)) && !t.After(hi.Add(slack))
}

// testLeaseClaim: a claim succeeds once; while the lease lives every other
// claim is refused, the holder's own included; after it expires another
// holder claims it, and the old holder can no longer renew.
func testLeaseClaim(t *testing.T, dir store.Store) {
	l := leasesOf(t, dir)
	registerTenant(t, dir, "t1", sync.DefaultTenantSettings())
	registerTenant(t, dir, "t2", sync.DefaultTenantSettings())
	ctx := context.Background()

	if _, err := l.Schedule(ctx, "t1"); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("Schedule before any claim = %v, want ErrTenantNotFound", err)
	}
	before := time.Now()
	mustClaim(t, l, "t1", "h1", time.Minute, true, true) // a new tenant is due at once
	after := time.Now()
	mustClaim(t, l, "t1", "h2", time.Minute, false, false)
	mustClaim(t, l, "t1", "h2", time.Minute, true, false)
	mustClaim(t, l, "t1", "h1", time.Minute, false, false) // no re-claim of a live lease
	sc := mustSchedule(t, l, "t1")
	if sc.LeaseHolder != "h1" || sc.LeaseUntil == nil || !within(*sc.LeaseUntil, before.Add(time.Minute), after.Add(time.Minute)) ||
		!within(sc.NextDue, before, after) {
		t.Fatalf("schedule after claim = %+v (claimed between %v and %v)", sc, before.UTC(), after.UTC())
	}

	// A short lease expires; then another holder claims it.
	start := time.Now()
	mustClaim(t, l, "t2", "h1", 200*time.Millisecond, false, true)
	claimed := time.Now()
	if got, err := l.ClaimTenant(ctx, "t2", "h2", time.Minute, false); err != nil || got && time.Since(start) < 150*time.Millisecond {
		t.Fatalf("second holder's claim of a live 200ms lease = %v, %v", got, err)
	}
	time.Sleep(time.Until(claimed.Add(300 * time.Millisecond)))
	mustClaim(t, l, "t2", "h2", time.Minute, false, true)
	if sc := mustSchedule(t, l, "t2"); sc.LeaseHolder != "h2" {
		t.Fatalf("schedule after claim following expiry = %+v", sc)
	}
	mustRenew(t, l, "t2", "h1", time.Minute, false)
	mustRenew(t, l, "t2", "h2", time.Minute, true)

	// An expired lease nobody claimed is not renewed either.
	mustClaim(t, l, "t2", "h2", time.Minute, false, false)
	mustRelease(t, l, "t2", "h2", 0)
	mustClaim(t, l, "t2", "h3", 200*time.Millisecond, false, true)
	time.Sleep(300 * time.Millisecond)
	mustRenew(t, l, "t2", "h3", time.Minute, false)

	// An unregistered tenant cannot be claimed and has no schedule.
	mustClaim(t, l, "nope", "h1", time.Minute, false, false)
	if _, err := l.Schedule(ctx, "nope"); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("Schedule(unknown) = %v, want ErrTenantNotFound", err)
	}
}

// testLeaseDueRelease: renewal only by the holder; release by anyone else
// does nothing; release with after > 0 moves the next due time, so a
// dueOnly claim fails while an unconditional one succeeds; release with
// after = 0 keeps the next due time.
func testLeaseDueRelease(t *testing.T, dir store.Store) {
	l := leasesOf(t, dir)
	mustRegister(t, dir)
	mustClaim(t, l, "t1", "h1", time.Minute, true, true)
	held := mustSchedule(t, l, "t1")

	mustRelease(t, l, "t1", "h2", time.Hour)
	if sc := mustSchedule(t, l, "t1"); !reflect.DeepEqual(sc, held) {
		t.Fatalf("release by a non-holder changed the schedule: %+v, was %+v", sc, held)
	}
	mustRenew(t, l, "t1", "h2", time.Hour, false)
	if sc := mustSchedule(t, l, "t1"); !reflect.DeepEqual(sc, held) {
		t.Fatalf("renewal by a non-holder changed the schedule: %+v, was %+v", sc, held)
	}
	mustRenew(t, l, "t1", "h1", 2*time.Minute, true)
	renewed := mustSchedule(t, l, "t1")
	if renewed.LeaseHolder != "h1" || renewed.LeaseUntil == nil || !renewed.LeaseUntil.After(*held.LeaseUntil) ||
		!renewed.NextDue.Equal(held.NextDue) {
		t.Fatalf("schedule after renewal = %+v, was %+v", renewed, held)
	}

	before := time.Now()
	mustRelease(t, l, "t1", "h1", time.Hour)
	after := time.Now()
	released := mustSchedule(t, l, "t1")
	if released.LeaseHolder != "" || released.LeaseUntil != nil || !within(released.NextDue, before.Add(time.Hour), after.Add(time.Hour)) {
		t.Fatalf("schedule after release for 1h = %+v (released between %v and %v)", released, before.UTC(), after.UTC())
	}
	mustRenew(t, l, "t1", "h1", time.Minute, false)
	mustClaim(t, l, "t1", "h2", time.Minute, true, false) // not due for an hour
	mustClaim(t, l, "t1", "h2", time.Minute, false, true) // run now
	mustClaim(t, l, "t1", "h1", time.Minute, false, false)
	mustRelease(t, l, "t1", "h2", 0)
	if sc := mustSchedule(t, l, "t1"); sc.LeaseHolder != "" || sc.LeaseUntil != nil || !sc.NextDue.Equal(released.NextDue) {
		t.Fatalf("schedule after release with after 0 = %+v, want next due kept at %v", sc, released.NextDue)
	}
	mustClaim(t, l, "t1", "h1", time.Minute, true, false)
}

// testLeaseReleaseFarAhead: a monthly schedule releases with an after of
// more than 2^31 milliseconds (24.8 days).
func testLeaseReleaseFarAhead(t *testing.T, dir store.Store) {
	l := leasesOf(t, dir)
	mustRegister(t, dir)
	mustClaim(t, l, "t1", "h1", time.Minute, true, true)
	const month = 31 * 24 * time.Hour
	before := time.Now()
	mustRelease(t, l, "t1", "h1", month)
	after := time.Now()
	if sc := mustSchedule(t, l, "t1"); sc.LeaseHolder != "" || !within(sc.NextDue, before.Add(month), after.Add(month)) {
		t.Fatalf("schedule after release for a month = %+v", sc)
	}
}

// testLeaseDuringOpenTx: lease writes made while a cycle's transaction is
// open in the same process wait for it or go through, and never fail: on
// SQLite they wait for the one writer. A renewal asked for while the lease
// was live succeeds even when the transaction outlives the lease.
func testLeaseDuringOpenTx(t *testing.T, dir store.Store) {
	l := leasesOf(t, dir)
	registerTenant(t, dir, "t1", sync.DefaultTenantSettings())
	registerTenant(t, dir, "t2", sync.DefaultTenantSettings())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const ttl = 2 * time.Second
	mustClaim(t, l, "t1", "h1", ttl, true, true)
	claimed := time.Now()
	tx, st := mustBegin(t, ctx, dir, "t1")
	defer func() { _ = tx.Rollback() }()

	type result struct {
		what  string
		ok    bool
		err   error
		asked time.Time
	}
	results := make(chan result, 3)
	go func() {
		asked := time.Now()
		ok, err := l.RenewLease(ctx, "t1", "h1", time.Minute)
		results <- result{"renew t1", ok, err, asked}
	}()
	go func() {
		ok, err := l.ClaimTenant(ctx, "t2", "h1", time.Minute, true)
		results <- result{"claim t2", ok, err, time.Now()}
	}()
	go func() {
		ok, err := l.APITokenValid(ctx, "none")
		results <- result{"token check", !ok, err, time.Now()}
	}()

	// The transaction stays open past the lease's expiry, then commits a cycle.
	time.Sleep(time.Until(claimed.Add(ttl + 500*time.Millisecond)))
	plan := sync.Diff(snapshot([]sync.EntraUser{user("a", "a@x.test")}, []string{"a"}), st, time.Now())
	run := &sync.Run{TenantID: "t1", Trigger: "test", StartedAt: time.Now(), Outcome: sync.OutcomeSucceeded}
	if err := tx.Apply(ctx, run, plan, plan.Events()); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	for range 3 {
		select {
		case r := <-results:
			if r.what == "renew t1" && r.asked.After(claimed.Add(ttl/2)) {
				t.Logf("renewal was asked for only %v after the claim; not judging it", r.asked.Sub(claimed))
				continue
			}
			if r.err != nil || !r.ok {
				t.Errorf("%s during an open transaction = %v, %v", r.what, r.ok, r.err)
			}
		case <-ctx.Done():
			t.Fatal("lease writes still waiting after the transaction committed")
		}
	}
	if sc := mustSchedule(t, l, "t1"); sc.LeaseHolder != "h1" || sc.LeaseUntil == nil || !sc.LeaseUntil.After(time.Now().Add(30*time.Second)) {
		t.Fatalf("t1 schedule after renewal = %+v", sc)
	}
}

// testWorkerLongTransaction: a sync.Worker keeps its lease through a cycle
// whose transaction stays open for several lease lifetimes; the cycle's
// context is not cancelled and the lease is released at the end.
func testWorkerLongTransaction(t *testing.T, dir store.Store) {
	l := leasesOf(t, dir)
	mustRegister(t, dir)
	const ttl = 600 * time.Millisecond
	w := sync.NewWorker(sync.NewSyncer(dir, nil), l, []sync.WorkerTenant{{ID: "t1"}},
		sync.WorkerConfig{Holder: "w1", LeaseTTL: ttl}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := w.WithLease(ctx, "t1", func(ctx context.Context, _ sync.Source) error {
		tx, err := dir.Begin(ctx, "t1")
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		select {
		case <-time.After(3 * ttl):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		// Let a few more renewals run after the commit.
		select {
		case <-time.After(ttl):
		case <-ctx.Done():
		}
		return context.Cause(ctx)
	})
	if err != nil {
		t.Fatalf("cycle under lease with a transaction open for %v (ttl %v): %v", 3*ttl, ttl, err)
	}
	if sc := mustSchedule(t, l, "t1"); sc.LeaseHolder != "" || sc.LeaseUntil != nil {
		t.Fatalf("schedule after the cycle = %+v, want released", sc)
	}
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// testAPITokens: rotating stores a new token and revokes the previous one at
// once; unknown hashes are not valid; a hash used before is refused.
func testAPITokens(t *testing.T, dir store.Store) {
	l := leasesOf(t, dir)
	ctx := context.Background()
	valid := func(token string) bool {
		t.Helper()
		ok, err := l.APITokenValid(ctx, tokenHash(token))
		if err != nil {
			t.Fatalf("APITokenValid: %v", err)
		}
		return ok
	}
	if valid("first") || valid("") {
		t.Fatal("a token is valid before any was stored")
	}
	if err := l.RotateAPIToken(ctx, tokenHash("first")); err != nil {
		t.Fatal(err)
	}
	if !valid("first") || valid("second") {
		t.Fatal("after the first rotation: want only first valid")
	}
	if err := l.RotateAPIToken(ctx, tokenHash("second")); err != nil {
		t.Fatal(err)
	}
	if valid("first") || !valid("second") {
		t.Fatal("after the second rotation: want first revoked, second valid")
	}
	if err := l.RotateAPIToken(ctx, tokenHash("first")); sync.ErrorCode(err) != sync.ECONFLICT {
		t.Fatalf("rotating back to a used token = %v, want ECONFLICT", err)
	}
	if valid("first") || !valid("second") {
		t.Fatal("a refused rotation changed the tokens")
	}
	if err := l.RotateAPIToken(ctx, tokenHash("third")); err != nil {
		t.Fatal(err)
	}
	if valid("first") || valid("second") || !valid("third") {
		t.Fatal("after the third rotation: want only third valid")
	}
}

// testRunFigures: round trips, lower bound, plan and throttle times
// round-trip through RecordRun and Apply, and back out of Run and Runs.
func testRunFigures(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	start := time.Date(2026, 11, 23, 12, 0, 0, 125000000, time.UTC)
	failed := &sync.Run{TenantID: "t1", Trigger: "schedule", StartedAt: start, FinishedAt: start.Add(2 * time.Second),
		Outcome: sync.OutcomeFailed, Counts: sync.Counts{}, Conflicts: []sync.Conflict{}, GraphRequests: 40, RoundTrips: 9, LowerBound: 7,
		ThrottleMs: 1234, ReadMillis: 2000, PlanMillis: 0, Error: "graph snapshot incomplete",
		Mode: sync.ModeFull, FullReason: "full_every (24h0m0s) elapsed since the last full cycle", CriticalPath: 5,
		Skipped: []sync.Skip{{Kind: sync.SkipGroup, ID: "g1", Name: "All Company", Reason: "Microsoft 365 group"}}}
	if err := dir.RecordRun(ctx, failed); err != nil {
		t.Fatal(err)
	}
	got, _, err := dir.Run(ctx, failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, *failed) {
		t.Fatalf("Run(%d) =\n%+v\nwant\n%+v", failed.ID, *got, *failed)
	}

	tx, st := mustBegin(t, ctx, dir, "t1")
	defer func() { _ = tx.Rollback() }()
	plan := sync.Diff(snapshot([]sync.EntraUser{user("a", "a@x.test")}, []string{"a"}), st, start)
	run := &sync.Run{TenantID: "t1", Trigger: "cli", StartedAt: start, Outcome: sync.OutcomeSucceeded, Counts: plan.Counts(),
		GraphRequests: 120, RoundTrips: 4, LowerBound: 3, ThrottleMs: 5000, ReadMillis: 7000, PlanMillis: 15}
	if err := tx.Apply(ctx, run, plan, plan.Events()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	runs, err := dir.Runs(ctx, "t1", 0)
	if err != nil || len(runs) != 2 {
		t.Fatalf("Runs = %+v, %v", runs, err)
	}
	r := runs[0]
	if r.ID != run.ID || r.GraphRequests != 120 || r.RoundTrips != 4 || r.LowerBound != 3 || r.ThrottleMs != 5000 ||
		r.ReadMillis != 7000 || r.PlanMillis != 15 || r.ApplyMillis != run.ApplyMillis {
		t.Fatalf("applied run = %+v, want figures of %+v", r, *run)
	}
	if r := runs[1]; r.RoundTrips != 9 || r.LowerBound != 7 || r.ThrottleMs != 1234 || r.PlanMillis != 0 {
		t.Fatalf("recorded run in Runs = %+v", r)
	}
}

// testApplySetsRun: Apply applies the changes first, then sets the run's
// ApplyMillis and FinishedAt (UTC) and records it with them, setting its ID;
// the log and the events name that ID.
func testApplySetsRun(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	tx, st := mustBegin(t, ctx, dir, "t1")
	defer func() { _ = tx.Rollback() }()
	now := time.Now().UTC().Truncate(time.Microsecond)
	plan := sync.Diff(snapshot([]sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test")}, []string{"a", "b"},
		secGroup("g1", "Eng", "a")), st, now)
	run := &sync.Run{TenantID: "t1", Trigger: "test", StartedAt: now, Outcome: sync.OutcomeSucceeded, Counts: plan.Counts(),
		ApplyMillis: -1}
	before := time.Now()
	if err := tx.Apply(ctx, run, plan, plan.Events()); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if run.ID == 0 || run.ApplyMillis < 0 || run.ApplyMillis > after.Sub(before).Milliseconds() ||
		run.FinishedAt.Before(before) || run.FinishedAt.After(after) || run.FinishedAt.Location() != time.UTC {
		t.Fatalf("run after Apply = %+v (Apply ran from %v to %v)", *run, before.UTC(), after.UTC())
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, log, err := dir.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL keeps microseconds.
	if got.ApplyMillis != run.ApplyMillis || got.FinishedAt.Sub(run.FinishedAt).Abs() > time.Microsecond || !got.StartedAt.Equal(now) {
		t.Fatalf("stored run = %+v, want the ApplyMillis and FinishedAt Apply set: %+v", *got, *run)
	}
	if len(log) != len(plan.Changes) {
		t.Fatalf("log has %d entries, want %d", len(log), len(plan.Changes))
	}
	for _, e := range log {
		if e.RunID != run.ID {
			t.Fatalf("log entry %+v names run %d, want %d", e, e.RunID, run.ID)
		}
	}
	evs := mustEvents(t, dir, "t1", 0, 0)
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for _, e := range evs {
		if e.RunID != run.ID {
			t.Fatalf("event %+v names run %d, want %d", e, e.RunID, run.ID)
		}
	}
}

// testLeaseClaimDue: one statement claims at most limit due tenants, the
// longest overdue first, never one that is not due, paused, unscheduled or
// leased; claimers polling at once never claim the same tenant.
func testLeaseClaimDue(t *testing.T, dir store.Store) {
	ctx := context.Background()
	for _, id := range []string{"t1", "t2", "t3", "t4", "t5", "t6"} {
		if err := dir.RegisterTenant(ctx, sync.Tenant{ID: id, EntraTenantID: "e-" + id, Settings: sync.DefaultTenantSettings()}); err != nil {
			t.Fatal(err)
		}
	}
	have, err := dir.EnsureSchedules(ctx, map[string]time.Duration{"t1": 0, "t2": 0, "t3": 0, "t4": time.Hour, "t5": 0, "nope": 0})
	sort.Strings(have)
	if err != nil || !reflect.DeepEqual(have, []string{"t1", "t2", "t3", "t4", "t5"}) {
		t.Fatalf("EnsureSchedules = %v, %v; want t1..t5 (nope is not registered)", have, err)
	}
	if err := dir.SetPaused(ctx, "t5", true); err != nil {
		t.Fatal(err)
	}
	all := []string{"t1", "t2", "t3", "t4", "t5", "t6", "nope"}
	claim := func(holder string, limit int) []string {
		t.Helper()
		ids, err := dir.ClaimDue(ctx, all, holder, time.Minute, limit)
		if err != nil {
			t.Fatalf("ClaimDue(%s, %d): %v", holder, limit, err)
		}
		sort.Strings(ids)
		return ids
	}
	first := claim("h1", 2)
	if len(first) != 2 {
		t.Fatalf("first claim = %v, want 2 of t1..t3", first)
	}
	second := claim("h2", 10)
	both := append(append([]string{}, first...), second...)
	sort.Strings(both)
	if !reflect.DeepEqual(both, []string{"t1", "t2", "t3"}) {
		t.Fatalf("claims = %v then %v, want t1, t2, t3 once each (t4 not due, t5 paused, t6 unscheduled)", first, second)
	}
	if again := claim("h3", 10); len(again) != 0 {
		t.Fatalf("claim while all leased = %v, want none", again)
	}
	if sc := mustSchedule(t, dir, first[0]); sc.LeaseHolder != "h1" {
		t.Fatalf("%s held by %q, want h1", first[0], sc.LeaseHolder)
	}
	// A schedule that exists is kept.
	before := mustSchedule(t, dir, "t4")
	if have, err := dir.EnsureSchedules(ctx, map[string]time.Duration{"t4": 0}); err != nil || len(have) != 1 {
		t.Fatalf("EnsureSchedules(t4) = %v, %v", have, err)
	}
	if sc := mustSchedule(t, dir, "t4"); !sc.NextDue.Equal(before.NextDue) {
		t.Fatalf("EnsureSchedules moved t4 from %v to %v", before.NextDue, sc.NextDue)
	}

	// Concurrent claimers: every due tenant exactly once.
	var fleet []string
	seeds := map[string]time.Duration{}
	for i := range 60 {
		id := "f" + strconv.Itoa(i)
		fleet = append(fleet, id)
		seeds[id] = 0
		if err := dir.RegisterTenant(ctx, sync.Tenant{ID: id, EntraTenantID: "e-" + id, Settings: sync.DefaultTenantSettings()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dir.EnsureSchedules(ctx, seeds); err != nil {
		t.Fatal(err)
	}
	var mu gosync.Mutex
	got := map[string]int{}
	var wg gosync.WaitGroup
	errs := make(chan error, 6)
	for h := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				ids, err := dir.ClaimDue(ctx, fleet, "p"+strconv.Itoa(h), time.Minute, 7)
				if err != nil || len(ids) > 7 {
					errs <- fmt.Errorf("claimer %d: %d ids, %v", h, len(ids), err)
					return
				}
				mu.Lock()
				for _, id := range ids {
					got[id]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, id := range fleet {
		if got[id] != 1 {
			t.Fatalf("tenant %s claimed %d times by concurrent claimers, want once", id, got[id])
		}
	}
}

// testTenantStates: one read gives every tenant's paused, disconnected,
// failure and held-run state.
func testTenantStates(t *testing.T, dir store.Store) {
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if err := dir.RegisterTenant(ctx, sync.Tenant{ID: id, EntraTenantID: "e-" + id, Settings: sync.DefaultTenantSettings()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dir.SetPaused(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := dir.NoteOutcome(ctx, "b", true, "unreachable"); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	if err := dir.RecordRun(ctx, &sync.Run{TenantID: "c", Trigger: "test", Outcome: sync.OutcomeHeld, Held: 3, StartedAt: now, FinishedAt: now}); err != nil {
		t.Fatal(err)
	}
	states, err := dir.TenantStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []sync.TenantState{{TenantID: "a", Paused: true}, {TenantID: "b", Failures: 2}, {TenantID: "c", HeldPending: 1}}
	if !reflect.DeepEqual(states, want) || !states[1].Quarantined() {
		t.Fatalf("TenantStates = %+v, want %+v", states, want)
	}
}
