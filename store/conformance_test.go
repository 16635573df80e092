package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
)

// backends lists every sync.Directory implementation the conformance suite runs on.
var backends = map[string]func(tb testing.TB) sync.Directory{
	"postgres": func(tb testing.TB) sync.Directory { return storetest.MustOpen(tb) },
}

func snapshot(users []sync.EntraUser, direct []string, groups ...sync.EntraGroup) *sync.Snapshot {
	s := &sync.Snapshot{Users: map[string]sync.EntraUser{}, DirectUsers: direct, Groups: groups}
	for _, u := range users {
		s.Users[u.ID] = u
	}
	return s
}

func user(id, upn string) sync.EntraUser {
	return sync.EntraUser{ID: id, UserPrincipalName: upn, Mail: upn, DisplayName: "User " + id, AccountEnabled: true}
}

func secGroup(id, name string, members ...string) sync.EntraGroup {
	return sync.EntraGroup{ID: id, DisplayName: name, SecurityEnabled: true, Found: true, Members: members}
}

// cycle plans snap against the directory and applies it, returning the plan.
func cycle(tb testing.TB, dir sync.Directory, snap *sync.Snapshot, now time.Time) *sync.Plan {
	tb.Helper()
	ctx := context.Background()
	tx, err := dir.Begin(ctx, "t1")
	if err != nil {
		tb.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	st, err := tx.State(ctx)
	if err != nil {
		tb.Fatalf("state: %v", err)
	}
	plan := sync.Diff(snap, st, now)
	run := &sync.Run{TenantID: "t1", Trigger: "test", StartedAt: now, FinishedAt: now, Outcome: sync.OutcomeSucceeded, Counts: plan.Counts()}
	if err := tx.Apply(ctx, run, plan, plan.Events()); err != nil {
		tb.Fatalf("apply: %v", err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatalf("commit: %v", err)
	}
	return plan
}

func replan(tb testing.TB, dir sync.Directory, snap *sync.Snapshot) *sync.Plan {
	tb.Helper()
	ctx := context.Background()
	tx, err := dir.Begin(ctx, "t1")
	if err != nil {
		tb.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	st, err := tx.State(ctx)
	if err != nil {
		tb.Fatalf("state: %v", err)
	}
	return sync.Diff(snap, st, time.Now())
}

func TestDirectoryConformance(t *testing.T) {
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("UnknownTenant", func(t *testing.T) {
				dir := open(t)
				_, err := dir.Begin(context.Background(), "nope")
				if !errors.Is(err, sync.ErrTenantNotFound) {
					t.Fatalf("Begin(unknown) = %v, want ErrTenantNotFound", err)
				}
			})
			t.Run("ApplyThenReplanIsEmpty", func(t *testing.T) { testApplyReplan(t, open(t)) })
			t.Run("RunsLogAndEvents", func(t *testing.T) { testRunsLogEvents(t, open(t)) })
		})
	}
}

func mustRegister(tb testing.TB, dir sync.Directory) {
	tb.Helper()
	if err := dir.RegisterTenant(context.Background(), sync.Tenant{ID: "t1", EntraTenantID: "e1", Settings: sync.DefaultTenantSettings()}); err != nil {
		tb.Fatalf("register: %v", err)
	}
}

func testApplyReplan(t *testing.T, dir sync.Directory) {
	mustRegister(t, dir)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a, b, c := user("a", "a@x.test"), user("b", "b@x.test"), user("c", "c@x.test")
	s1 := snapshot([]sync.EntraUser{a, b, c}, []string{"a", "b"}, secGroup("g1", "Engineering", "b", "c"))
	p1 := cycle(t, dir, s1, now)
	if got := p1.Counts()["user.create"]; got != 3 {
		t.Fatalf("first cycle creates %d users, want 3", got)
	}
	if p := replan(t, dir, s1); !p.Empty() {
		t.Fatalf("re-plan after apply not empty: %+v", p.Changes)
	}
	// Second picture: a unassigned, b's e-mail changes, the group is renamed
	// and loses c.
	b2 := b
	b2.Mail = "b.new@x.test"
	s2 := snapshot([]sync.EntraUser{b2}, []string{"b"}, secGroup("g1", "Eng", "b"))
	p2 := cycle(t, dir, s2, now.Add(time.Hour))
	want := sync.Counts{"user.archive": 2, "user.update": 1, "group.update": 1, "membership.remove": 1}
	for k, v := range want {
		if p2.Counts()[k] != v {
			t.Errorf("second cycle %s = %d, want %d (all: %v)", k, p2.Counts()[k], v, p2.Counts())
		}
	}
	if p := replan(t, dir, s2); !p.Empty() {
		t.Fatalf("re-plan after second apply not empty: %+v", p.Changes)
	}
	users, err := dir.Users(context.Background(), "t1", sync.StatusArchived)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].ArchivedAt == nil || users[0].PreviousStatus != sync.StatusStaged {
		t.Fatalf("archived users = %+v", users)
	}
	// Back again: restore keeps local ids.
	p3 := cycle(t, dir, s1, now.Add(2*time.Hour))
	if p3.Counts()["user.restore"] != 2 {
		t.Fatalf("third cycle restores %d, want 2: %v", p3.Counts()["user.restore"], p3.Counts())
	}
	all, _ := dir.Users(context.Background(), "t1", "")
	if len(all) != 3 {
		t.Fatalf("users after restore = %d rows, want 3 (no duplicates)", len(all))
	}
	groups, _ := dir.Groups(context.Background(), "t1")
	if len(groups) != 1 || groups[0].DisplayName != "Engineering" || len(groups[0].Members) != 2 {
		t.Fatalf("groups = %+v", groups)
	}
}

func testRunsLogEvents(t *testing.T, dir sync.Directory) {
	mustRegister(t, dir)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := snapshot([]sync.EntraUser{user("a", "a@x.test")}, []string{"a"})
	cycle(t, dir, s, now)
	runs, err := dir.Runs(context.Background(), "t1", 10)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %v, %v", runs, err)
	}
	run, log, err := dir.Run(context.Background(), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts["user.create"] != 1 || len(log) != 1 || log[0].Action != sync.ActionCreate || log[0].EntraID != "a" {
		t.Fatalf("run = %+v, log = %+v", run, log)
	}
	if _, _, err := dir.Run(context.Background(), 999999); !errors.Is(err, sync.ErrRunNotFound) {
		t.Fatalf("Run(missing) = %v", err)
	}
	evs, err := dir.Events(context.Background(), "t1", 0, 0)
	if err != nil || len(evs) != 1 || evs[0].Type != "user.created" || evs[0].Data["email"] != "a@x.test" {
		t.Fatalf("events = %+v, %v", evs, err)
	}
}
