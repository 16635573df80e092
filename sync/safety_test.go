package sync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

// guardTenant is baseTenant with users 10..29 directly assigned too.
func guardTenant() *graphtest.Tenant {
	tn := baseTenant()
	for i := 10; i < 30; i++ {
		tn.Users = append(tn.Users, tuser(i, true))
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(i)})
	}
	return tn
}

func TestC6_MassUnassignmentHeldThenApproved(t *testing.T) {
	t.Parallel()
	s := sync.DefaultTenantSettings()
	s.ArchiveThreshold = 5
	h := MustMemoryHarness(t, guardTenant(), &s)
	h.cycle(t)
	for i := 10; i < 22; i++ { // 12 archives, over the threshold of 5
		h.srv.Unassign(gid(i))
	}
	setUser(h.srv, gid(1), func(u *graphtest.User) { u.DisplayName = "Renamed One" })
	res := h.cycle(t)
	if res.Run.Outcome != sync.OutcomeHeld || res.Run.Held != 12 || len(res.Plan.Held) != 12 || !strings.Contains(res.Plan.HeldReason, "threshold of 5") {
		t.Fatalf("run %s held %d (%s), want held with 12", res.Run.Outcome, res.Run.Held, res.Plan.HeldReason)
	}
	us := h.users(t)
	if us[gid(10)].Status != sync.StatusStaged || us[gid(1)].DisplayName != "Renamed One" {
		t.Fatalf("held archive applied (%s) or the rest not applied (%q)", us[gid(10)].Status, us[gid(1)].DisplayName)
	}
	_, log, _ := h.db.Run(context.Background(), res.Run.ID)
	held := 0
	for _, e := range log {
		if e.Status == "held" {
			held++
		}
	}
	if held != 12 {
		t.Fatalf("provisioning log shows %d held changes, want 12", held)
	}
	// Until reviewed, later cycles hold too — even a single archive.
	h.srv.Unassign(gid(22))
	if res2 := h.cycle(t); res2.Run.Outcome != sync.OutcomeHeld || res2.Run.Held != 13 {
		t.Fatalf("later cycle = %s held %d, want held 13", res2.Run.Outcome, res2.Run.Held)
	}
	// Approve: the held archives apply, checked against a fresh read.
	h.srv.Assign(gid(21)) // came back meanwhile: must not be archived
	if _, err := h.db.ReviewRun(context.Background(), res.Run.ID, sync.ReviewApproved); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.ReviewRun(context.Background(), res.Run.ID, sync.ReviewApproved); sync.ErrorCode(err) != sync.EINVALID {
		t.Fatalf("second review = %v, want EINVALID", err)
	}
	_, heldLog, _ := h.db.Run(context.Background(), res.Run.ID)
	res3, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{Trigger: "approve",
		Approved: sync.HeldChanges(heldLog)})
	if err != nil {
		t.Fatal(err)
	}
	if res3.Plan.Counts()["user.archive"] != 12 || res3.Run.Outcome != sync.OutcomeSucceeded {
		t.Fatalf("approved cycle = %v %s, want 12 archives", res3.Plan.Counts(), res3.Run.Outcome)
	}
	if u := h.users(t)[gid(21)]; u.Status != sync.StatusStaged {
		t.Fatalf("user 21, assigned again, was archived by the approval")
	}
	if res4 := h.cycle(t); res4.Run.Outcome != sync.OutcomeSucceeded || !res4.Plan.Empty() {
		t.Fatalf("cycle after approval = %s %v", res4.Run.Outcome, res4.Plan.Counts())
	}
}

// TestC6_ApprovalPassesOnlyTheHeldArchives: archives the fresh read finds
// beyond the approved run's are still guarded.
func TestC6_ApprovalPassesOnlyTheHeldArchives(t *testing.T) {
	t.Parallel()
	s := sync.DefaultTenantSettings()
	s.ArchiveThreshold = 5
	h := MustMemoryHarness(t, guardTenant(), &s)
	h.cycle(t)
	for i := 10; i < 17; i++ { // 7 archives: held
		h.srv.Unassign(gid(i))
	}
	res := h.cycle(t)
	if res.Run.Held != 7 {
		t.Fatalf("held %d, want 7", res.Run.Held)
	}
	for i := 17; i < 24; i++ { // 7 more before the approval
		h.srv.Unassign(gid(i))
	}
	_, heldLog, _ := h.db.Run(context.Background(), res.Run.ID)
	res2, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{Trigger: "approve",
		Approved: sync.HeldChanges(heldLog)})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Plan.Counts()["user.archive"] != 7 || res2.Run.Held != 7 || res2.Run.Outcome != sync.OutcomeHeld {
		t.Fatalf("approval cycle = %v held %d (%s), want the 7 approved applied and the 7 new held", res2.Plan.Counts(), res2.Run.Held, res2.Run.Outcome)
	}
	for i := 10; i < 24; i++ {
		want := sync.StatusArchived
		if i >= 17 {
			want = sync.StatusStaged
		}
		if u := h.users(t)[gid(i)]; u.Status != want {
			t.Fatalf("user %d = %s, want %s", i, u.Status, want)
		}
	}
}

func TestC6_RejectedArchivesAreDropped(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, guardTenant(), nil) // default: 500, or 30% once 10 or more
	h.cycle(t)
	for i := 10; i < 22; i++ {
		h.srv.Unassign(gid(i))
	}
	res := h.cycle(t)
	if res.Run.Outcome != sync.OutcomeHeld || !strings.Contains(res.Plan.HeldReason, "30%") {
		t.Fatalf("12 of 23 archived = %s (%s), want held by the percentage", res.Run.Outcome, res.Plan.HeldReason)
	}
	if _, err := h.db.ReviewRun(context.Background(), res.Run.ID, sync.ReviewRejected); err != nil {
		t.Fatal(err)
	}
	// The administrator fixes Entra: the users are assigned again.
	for i := 10; i < 22; i++ {
		h.srv.Assign(gid(i))
	}
	res2 := h.cycle(t)
	if res2.Run.Outcome != sync.OutcomeSucceeded || res2.Plan.Counts()["user.archive"] != 0 {
		t.Fatalf("after reject = %s %v", res2.Run.Outcome, res2.Plan.Counts())
	}
	for i := 10; i < 22; i++ {
		if u := h.users(t)[gid(i)]; u.Status != sync.StatusStaged {
			t.Fatalf("user %d = %s, want never archived", i, u.Status)
		}
	}
}

// switchSource fails while broken is set, as a wrong secret would.
type switchSource struct {
	sync.Source
	broken atomic.Bool
}

func (s *switchSource) Snapshot(ctx context.Context) (*sync.Snapshot, error) {
	if s.broken.Load() {
		return nil, &sync.Error{Code: sync.EUNAUTHORIZED, Message: "graph: could not obtain a token"}
	}
	return s.Source.Snapshot(ctx)
}

func TestC7_QuarantineBacksOffAndASuccessLiftsIt(t *testing.T) {
	t.Parallel()
	if got := []time.Duration{sync.Backoff(1, 45*time.Minute), sync.Backoff(2, 45*time.Minute), sync.Backoff(3, time.Minute),
		sync.Backoff(4, time.Minute), sync.Backoff(9, time.Minute), sync.Backoff(3, 48*time.Hour)}; fmt.Sprint(got) !=
		fmt.Sprint([]time.Duration{45 * time.Minute, time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour}) {
		t.Fatalf("backoff = %v", got)
	}
	h := MustMemoryHarness(t, baseTenant(), nil)
	src := &switchSource{Source: h.src}
	src.broken.Store(true)
	w := sync.NewWorker(h.syncer, h.db, []sync.WorkerTenant{{ID: tenantName, Source: src, Schedule: sync.Every(time.Second)}},
		sync.WorkerConfig{Holder: "q"}, nil)
	ctx := context.Background()
	if _, err := w.RunNow(ctx, tenantName, sync.CycleOptions{Trigger: "test"}); err == nil {
		t.Fatal("broken cycle succeeded")
	}
	sc, _ := h.db.Schedule(ctx, tenantName)
	if sc.Failures != 1 || sc.Quarantined() {
		t.Fatalf("after one failure: %+v", sc)
	}
	// The next scheduled cycle fails too: quarantined, next one in an hour.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	waitFor(t, 10*time.Second, func() bool { sc, _ = h.db.Schedule(ctx, tenantName); return sc.Failures == 2 })
	cancel()
	<-done
	sc, _ = h.db.Schedule(ctx, tenantName)
	if !sc.Quarantined() || !strings.Contains(sc.QuarantineReason, "credential rejected or permission missing") ||
		time.Until(sc.NextDue) < 55*time.Minute {
		t.Fatalf("after two failures: %+v (next due in %s)", sc, time.Until(sc.NextDue))
	}
	// Fixed: a successful on-demand cycle lifts it.
	src.broken.Store(false)
	if _, err := w.RunNow(ctx, tenantName, sync.CycleOptions{Trigger: "test"}); err != nil {
		t.Fatal(err)
	}
	if sc, _ = h.db.Schedule(ctx, tenantName); sc.Quarantined() || sc.Failures != 0 || sc.QuarantineReason != "" ||
		time.Until(sc.NextDue) > time.Minute {
		t.Fatalf("after a success: %+v (next due in %s, want the normal interval again)", sc, time.Until(sc.NextDue))
	}
}

func TestC8_PausedTenantIsNotSyncedButPlansWork(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil)
	ctx := context.Background()
	if err := h.db.SetPaused(ctx, tenantName, true); err != nil {
		t.Fatal(err)
	}
	log := newCycleLog()
	src := &loggedSource{Source: h.src, tenant: tenantName, log: log}
	w := sync.NewWorker(h.syncer, h.db, []sync.WorkerTenant{{ID: tenantName, Source: src, Schedule: sync.Every(time.Second)}},
		sync.WorkerConfig{Holder: "p", Poll: time.Second, Observer: log}, nil)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	time.Sleep(2500 * time.Millisecond) // two polls and more
	if _, err := w.RunNow(ctx, tenantName, sync.CycleOptions{Trigger: "api"}); !errors.Is(err, sync.ErrTenantPaused) {
		t.Fatalf("on-demand apply on a paused tenant = %v, want ErrTenantPaused", err)
	}
	res, err := w.RunNow(ctx, tenantName, sync.CycleOptions{Trigger: "api", DryRun: true})
	if err != nil || res.Plan.Counts()["user.create"] != 3 {
		t.Fatalf("plan of a paused tenant = %v, %v", res, err)
	}
	log.mu.Lock()
	scheduled := len(log.starts[tenantName]) - 1 // the dry run started one
	log.mu.Unlock()
	if scheduled != 0 {
		t.Fatalf("paused tenant ran %d scheduled cycles", scheduled)
	}
	if err := h.db.SetPaused(ctx, tenantName, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return len(h.users(t)) == 3 })
	cancel()
	<-done
}

// TestDisconnectThenReconnect: a disconnected tenant makes its users manual
// without archiving anyone and is not synced; reconnected, a cycle adopts
// everyone back by object id and creates nobody.
func TestDisconnectThenReconnect(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil)
	ctx := context.Background()
	h.cycle(t)
	before := h.users(t)
	rep, err := h.db.Disconnect(ctx, tenantName, false)
	if err != nil || rep.UserCount != 3 || rep.GroupCount != 1 {
		t.Fatalf("disconnect = %+v, %v", rep, err)
	}
	all, _ := h.db.Users(ctx, tenantName, "")
	for _, u := range all {
		if u.Origin != sync.OriginManual || u.Status != sync.StatusStaged {
			t.Fatalf("after disconnect: %+v, want manual and not archived", u)
		}
	}
	if _, err := h.syncer.Cycle(ctx, tenantName, h.src, sync.CycleOptions{Trigger: "test"}); !errors.Is(err, sync.ErrTenantDisconnected) {
		t.Fatalf("cycle of a disconnected tenant = %v", err)
	}
	if ok, _ := h.db.ClaimTenant(ctx, tenantName, "x", time.Minute, true); ok {
		t.Fatalf("the scheduler claimed a disconnected tenant")
	}
	if _, err := h.db.Reconnect(ctx, tenantName); err != nil {
		t.Fatal(err)
	}
	res := h.cycle(t)
	if c := res.Plan.Counts(); c["user.adopt"] != 3 || c["group.adopt"] != 1 || c["user.create"] != 0 || c["group.create"] != 0 {
		t.Fatalf("reconnect cycle = %v", c)
	}
	for id, u := range h.users(t) {
		if u.ID != before[id].ID || u.Origin != sync.OriginProvisioned {
			t.Fatalf("user %s after reconnect = %+v (was id %d)", id, u, before[id].ID)
		}
	}
	if res := h.cycle(t); !res.Plan.Empty() {
		t.Fatalf("cycle after reconnect: %v", res.Plan.Counts())
	}
}

// TestTenantOverrideWinsInCycle: a tenant setting set by an administrator
// wins over the configuration's value in the cycle.
func TestTenantOverrideWinsInCycle(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil) // automatic invitation off in the config
	if _, err := h.db.SetTenantSetting(context.Background(), tenantName, sync.SettingChange{Name: sync.SettingAutoInvite, Value: "true"}); err != nil {
		t.Fatal(err)
	}
	h.cycle(t)
	if u := h.users(t)[gid(1)]; u.Status != sync.StatusInvited {
		t.Fatalf("user 1 = %s, want invited by the override", u.Status)
	}
}

// TestC7_EveryFailedCycleIsLoggedAtErrorWithTenantRunAndReason: the first
// failure already writes an ERROR line (not only the quarantine after the
// second), naming the tenant, the run and the failure's category.
func TestC7_EveryFailedCycleIsLoggedAtErrorWithTenantRunAndReason(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil)
	src := &switchSource{Source: h.src}
	src.broken.Store(true)
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil))
	w := sync.NewWorker(h.syncer, h.db, []sync.WorkerTenant{{ID: tenantName, Source: src, Schedule: sync.Every(time.Second)}},
		sync.WorkerConfig{Holder: "l"}, logger)
	res, err := w.RunNow(context.Background(), tenantName, sync.CycleOptions{Trigger: "api"})
	if err == nil || res == nil || res.Run == nil || res.Run.ID == 0 {
		t.Fatalf("broken cycle = %+v, %v; want a failed run", res, err)
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, "cycle failed") {
			line = l
		}
	}
	for _, want := range []string{"tenant=" + tenantName, fmt.Sprintf("run=%d", res.Run.ID), "reason=credential", "trigger=api"} {
		if !strings.Contains(line, want) {
			t.Fatalf("the first failure's ERROR line %q lacks %q; logs:\n%s", line, want, logs.String())
		}
	}
	if got := sync.FailureCategory(err); got != sync.FailureCredential {
		t.Fatalf("FailureCategory = %q", got)
	}
}

// TestC7_C8_RefusedCyclesAreNotFailures: cycles refused because the tenant
// is paused or disconnected never count towards quarantine, and say how to
// lift the refusal with the tenant's name (no NAME placeholder, no name
// said twice).
func TestC7_C8_RefusedCyclesAreNotFailures(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil)
	ctx := context.Background()
	w := sync.NewWorker(h.syncer, h.db, []sync.WorkerTenant{{ID: tenantName, Source: h.src, Schedule: sync.Every(time.Second)}},
		sync.WorkerConfig{Holder: "r"}, nil)
	if err := h.db.SetPaused(ctx, tenantName, true); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, err := w.RunNow(ctx, tenantName, sync.CycleOptions{Trigger: "api"})
		want := "tenant " + tenantName + " is paused: resume it with `entrasync tenant resume " + tenantName + "`"
		if !errors.Is(err, sync.ErrTenantPaused) || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "NAME") ||
			sync.FailureCategory(err) != sync.FailureRefused {
			t.Fatalf("paused: %v, want %q…", err, want)
		}
	}
	if err := h.db.SetPaused(ctx, tenantName, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.Disconnect(ctx, tenantName, false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_, err := w.RunNow(ctx, tenantName, sync.CycleOptions{Trigger: "api"})
		if !errors.Is(err, sync.ErrTenantDisconnected) || !strings.Contains(err.Error(), "entrasync tenant reconnect "+tenantName) ||
			strings.Contains(err.Error(), "NAME") {
			t.Fatalf("disconnected: %v", err)
		}
	}
	// A scheduled cycle of the disconnected tenant is refused too.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	time.Sleep(1500 * time.Millisecond)
	cancel()
	<-done
	if sc, _ := h.db.Schedule(ctx, tenantName); sc.Failures != 0 || sc.Quarantined() {
		t.Fatalf("refused cycles counted as failures: %+v", sc)
	}
}

// lockedWriter serialises writes of concurrent log lines.
type lockedWriter struct {
	mu gosync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
