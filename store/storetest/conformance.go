package storetest

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

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

// mustBegin begins a cycle's transaction on tenant's directory and loads its
// state; the caller rolls it back (or commits).
func mustBegin(tb testing.TB, ctx context.Context, dir sync.Directory, tenant string) (sync.Tx, *sync.State) {
	tb.Helper()
	tx, err := dir.Begin(ctx, tenant)
	if err != nil {
		tb.Fatalf("begin: %v", err)
	}
	st, err := tx.State(ctx)
	if err != nil {
		_ = tx.Rollback()
		tb.Fatalf("state: %v", err)
	}
	return tx, st
}

// cycle plans snap against tenant t1's directory and applies it, returning the plan.
func cycle(tb testing.TB, dir sync.Directory, snap *sync.Snapshot, now time.Time) *sync.Plan {
	tb.Helper()
	return cycleFor(tb, dir, "t1", snap, now)
}

// cycleFor plans snap against tenant's directory and applies it.
func cycleFor(tb testing.TB, dir sync.Directory, tenant string, snap *sync.Snapshot, now time.Time) *sync.Plan {
	tb.Helper()
	ctx := context.Background()
	tx, st := mustBegin(tb, ctx, dir, tenant)
	defer func() { _ = tx.Rollback() }()
	plan := sync.Diff(snap, st, now)
	run := &sync.Run{TenantID: tenant, Trigger: "test", StartedAt: now, FinishedAt: now, Outcome: sync.OutcomeSucceeded, Counts: plan.Counts()}
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
	tx, st := mustBegin(tb, ctx, dir, "t1")
	defer func() { _ = tx.Rollback() }()
	return sync.Diff(snap, st, time.Now())
}

// conformance lists the cases every backend must pass, each on its own
// fresh directory.
var conformance = []struct {
	name string
	test func(t *testing.T, dir store.Store)
}{
	{"UnknownTenant", testUnknownTenant},
	{"ApplyThenReplanIsEmpty", func(t *testing.T, dir store.Store) { testApplyReplan(t, dir) }},
	{"RunsLogAndEvents", func(t *testing.T, dir store.Store) { testRunsLogEvents(t, dir) }},
	{"RegisterTenantUpdates", testRegisterTenant},
	{"EmailChainAndSwapThroughPlanner", testEmailChainSwap},
	{"EmailSwapInOnePlan", testEmailSwapInOnePlan},
	{"UniquenessViolationKeepsNothing", testUniquenessViolation},
	{"ArchiveRestoreKeepsIDAndStatus", testArchiveRestore},
	{"GroupArchiveRemovesMembershipsKeepsSettings", testGroupArchive},
	{"PurgeKeepsTombstoneAndAllowsRecreate", testPurge},
	{"PurgeWritesReadableEvent", testPurgeEvent},
	{"EventsInOrderAfterID", testEventsOrder},
	{"RunsNewestFirstPerTenant", testRunsOrder},
	{"BeginSerialisesCyclesOfATenant", testBeginSerialises},
	// lease_test.go
	{"LeaseClaimRefuseExpire", testLeaseClaim},
	{"LeaseDueRenewRelease", testLeaseDueRelease},
	{"LeaseReleaseFarAhead", testLeaseReleaseFarAhead},
	{"LeaseClaimDueBoundedAndExclusive", testLeaseClaimDue},
	{"TenantStatesInOneRead", testTenantStates},
	{"LeaseWritesDuringOpenTransaction", testLeaseDuringOpenTx},
	{"WorkerLeaseOutlivesLongTransaction", testWorkerLongTransaction},
	{"APITokenRotation", testAPITokens},
	{"RunFiguresRoundTrip", testRunFigures},
	{"ApplySetsRunTimesAndID", testApplySetsRun},
	{"DeltaStateSavedWithTheCycle", testDeltaState}, // delta.go
	{"DeltaMirrorSavedInParts", testDeltaMirrorParts},
	{"DeltaStateReadDuringACycle", testDeltaStateReadDuringACycle},
	{"DirectoryVersionCountsWrites", testDirectoryVersion},
	{"StateOfLoadsWhatTheScopeNames", testStateOf},                // scoped.go
	{"PreloadedStateTakenOnlyWhileUnchanged", testPreloadedState}, // preload.go
}

// Dir is a directory backend as the suite opens it: the store, and its
// pool for fixture statements that no interface method makes.
type Dir interface {
	store.Store
	SQL() *sqlx.DB
}

// Run runs the conformance suite — every case of the directory, the
// worker's leases, the admin API tokens, run figures and administration —
// on the backend open opens. Each case calls open for a fresh, empty
// directory of its own (a PostgreSQL schema, a SQLite file), and the cases
// run in parallel. Each backend's package calls it from its own tests.
func Run(t *testing.T, open func(tb testing.TB) Dir) {
	for _, group := range [][]struct {
		name string
		test func(*testing.T, store.Store)
	}{conformance, adminCases, accessCases, registryCases} {
		for _, c := range group {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.test(t, open(t))
			})
		}
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

// ---- more conformance cases ---------------------------------------------

func registerTenant(tb testing.TB, dir sync.Directory, id string, settings sync.TenantSettings) {
	tb.Helper()
	if err := dir.RegisterTenant(context.Background(), sync.Tenant{ID: id, EntraTenantID: "e-" + id, Settings: settings}); err != nil {
		tb.Fatalf("register %s: %v", id, err)
	}
}

func mustUsers(tb testing.TB, dir sync.Directory, tenant string, status sync.Status) []sync.User {
	tb.Helper()
	users, err := dir.Users(context.Background(), tenant, status)
	if err != nil {
		tb.Fatalf("users: %v", err)
	}
	return users
}

func byEntra(tb testing.TB, users []sync.User, entraID string) sync.User {
	tb.Helper()
	for _, u := range users {
		if u.EntraID == entraID && u.Status != sync.StatusPurged {
			return u
		}
	}
	tb.Fatalf("no live user with Entra id %s in %+v", entraID, users)
	return sync.User{}
}

func mustGroups(tb testing.TB, dir sync.Directory, tenant string) []sync.Group {
	tb.Helper()
	groups, err := dir.Groups(context.Background(), tenant)
	if err != nil {
		tb.Fatalf("groups: %v", err)
	}
	return groups
}

func mustEvents(tb testing.TB, dir sync.Directory, tenant string, after int64, limit int) []sync.Event {
	tb.Helper()
	evs, err := dir.Events(context.Background(), tenant, after, limit)
	if err != nil {
		tb.Fatalf("events: %v", err)
	}
	return evs
}

// rawExec runs a fixture statement (valid in both SQL dialects, without
// parameters) that the Directory interface has no method for.
func rawExec(tb testing.TB, dir store.Store, query string) {
	tb.Helper()
	d, ok := dir.(Dir)
	if !ok {
		tb.Fatalf("rawExec: %T has no SQL pool", dir)
	}
	if _, err := d.SQL().Exec(query); err != nil {
		tb.Fatalf("rawExec %q: %v", query, err)
	}
}

// dirState is everything a test can see of a directory, to compare before
// and after a failed apply.
type dirState struct {
	Users  []sync.User
	Groups []sync.Group
	Runs   []sync.Run
	Events []sync.Event
}

func snapshotDir(tb testing.TB, dir sync.Directory) dirState {
	tb.Helper()
	runs, err := dir.Runs(context.Background(), "", 1000)
	if err != nil {
		tb.Fatalf("runs: %v", err)
	}
	return dirState{Users: mustUsers(tb, dir, "t1", ""), Groups: mustGroups(tb, dir, "t1"), Runs: runs,
		Events: mustEvents(tb, dir, "t1", 0, 1000)}
}

func emails(users []sync.User) map[string]string {
	m := map[string]string{}
	for _, u := range users {
		if u.Status != sync.StatusPurged {
			m[u.EntraID] = u.Email
		}
	}
	return m
}

func testUnknownTenant(t *testing.T, dir store.Store) {
	_, err := dir.Begin(context.Background(), "nope")
	if !errors.Is(err, sync.ErrTenantNotFound) || sync.ErrorCode(err) != sync.ENOTFOUND {
		t.Fatalf("Begin(unknown) = %v, want ErrTenantNotFound", err)
	}
	// The failed Begin must not keep any lock: a Begin on a known tenant
	// goes through at once.
	mustRegister(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := dir.Begin(ctx, "t1")
	if err != nil {
		t.Fatalf("Begin(t1) after a failed Begin: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("second rollback: %v", err)
	}
}

func testRegisterTenant(t *testing.T, dir store.Store) {
	ctx := context.Background()
	if err := dir.RegisterTenant(ctx, sync.Tenant{}); sync.ErrorCode(err) != sync.EINVALID {
		t.Fatalf("RegisterTenant(empty id) = %v, want EINVALID", err)
	}
	mustRegister(t, dir)
	s := sync.DefaultTenantSettings()
	s.AutoInvite, s.EmailSource, s.ArchiveThreshold = true, sync.EmailFromUPN, 7
	if err := dir.RegisterTenant(ctx, sync.Tenant{ID: "t1", EntraTenantID: "e2", Settings: s}); err != nil {
		t.Fatalf("re-register: %v", err)
	}
	tx, st := mustBegin(t, ctx, dir, "t1")
	defer func() { _ = tx.Rollback() }()
	if st.Tenant.EntraTenantID != "e2" || st.Tenant.Settings != s || len(st.Users) != 0 || len(st.Groups) != 0 {
		t.Fatalf("state after re-register = %+v", st)
	}
	if _, err := dir.Users(ctx, "t1", "bogus"); sync.ErrorCode(err) != sync.EINVALID {
		t.Fatalf("Users(bogus status) = %v, want EINVALID", err)
	}
}

// testEmailChainSwap: the planner holds back an e-mail taken from a user who
// moves away in the same cycle, and a swap, as conflicts; what it does apply
// never trips the uniqueness constraint, and the chain settles next cycle.
func testEmailChainSwap(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a, b, c := user("a", "a@x.test"), user("b", "b@x.test"), user("c", "c@x.test")
	cycle(t, dir, snapshot([]sync.EntraUser{a, b, c}, []string{"a", "b", "c"}), now)

	// Chain: a moves to a2@, b takes a's old e-mail (in other case): both
	// apply in one cycle, since a's key is free once the plan is applied.
	a.Mail, b.Mail = "a2@x.test", "A@X.test"
	s2 := snapshot([]sync.EntraUser{a, b, c}, []string{"a", "b", "c"})
	p := cycle(t, dir, s2, now.Add(time.Minute))
	if p.Counts()["user.update"] != 2 || len(p.Conflicts) != 0 {
		t.Fatalf("chain cycle: counts %v conflicts %+v", p.Counts(), p.Conflicts)
	}
	if got := emails(mustUsers(t, dir, "t1", "")); got["a"] != "a2@x.test" || got["b"] != "A@X.test" {
		t.Fatalf("after chain cycle e-mails = %v", got)
	}
	if p = cycle(t, dir, s2, now.Add(2*time.Minute)); !p.Empty() {
		t.Fatalf("cycle after the chain: %v", p.Counts())
	}

	// Swap of a and b, and a case-only change of c (same key), in one cycle.
	a.Mail, b.Mail, c.Mail = "A@X.test", "a2@x.test", "C@X.TEST"
	s3 := snapshot([]sync.EntraUser{a, b, c}, []string{"a", "b", "c"})
	p = cycle(t, dir, s3, now.Add(3*time.Minute))
	if len(p.Conflicts) != 0 || p.Counts()["user.update"] != 3 {
		t.Fatalf("swap cycle: counts %v conflicts %+v", p.Counts(), p.Conflicts)
	}
	if got := emails(mustUsers(t, dir, "t1", "")); got["a"] != "A@X.test" || got["b"] != "a2@x.test" || got["c"] != "C@X.TEST" {
		t.Fatalf("after swap cycle e-mails = %v", got)
	}
	// A key held by a user who keeps it stays a conflict, logged on the run.
	c.Mail = "a2@X.test"
	s4 := snapshot([]sync.EntraUser{a, b, c}, []string{"a", "b", "c"})
	if p = cycle(t, dir, s4, now.Add(4*time.Minute)); len(p.Conflicts) != 1 || p.Conflicts[0].EntraID != "c" {
		t.Fatalf("held key: counts %v conflicts %+v", p.Counts(), p.Conflicts)
	}
	runs, err := dir.Runs(context.Background(), "t1", 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %v, %v", runs, err)
	}
	_, log, err := dir.Run(context.Background(), runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	conflicts := 0
	for _, e := range log {
		if e.Status == "conflict" {
			conflicts++
		}
	}
	if conflicts != 1 {
		t.Fatalf("run log has %d conflict rows, want 1: %+v", conflicts, log)
	}
}

// testEmailSwapInOnePlan: a plan (made by hand) that swaps two users' e-mails applies, because uniqueness holds once the
// whole plan is applied (deferred on PostgreSQL, two-phase on SQLite).
func testEmailSwapInOnePlan(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cycle(t, dir, snapshot([]sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test"), user("c", "c@x.test")},
		[]string{"a", "b", "c"}), now)
	ctx := context.Background()
	tx, st := mustBegin(t, ctx, dir, "t1")
	defer func() { _ = tx.Rollback() }()
	plan := &sync.Plan{TenantID: "t1"}
	// A three-way rotation: a → b's, b → c's, c → a's.
	next := map[string]string{"a": "B@x.test", "b": "c@x.test", "c": "a@X.test"}
	for i := range st.Users {
		u := st.Users[i]
		after := u
		after.Mail, after.Email = next[u.EntraID], next[u.EntraID]
		plan.Changes = append(plan.Changes, sync.Change{Action: sync.ActionUpdate, Entity: sync.EntityUser, EntraID: u.EntraID,
			Label: u.UserPrincipalName, Reason: "test", Before: &st.Users[i], After: &after})
	}
	run := &sync.Run{TenantID: "t1", Trigger: "test", StartedAt: now, FinishedAt: now, Outcome: sync.OutcomeSucceeded}
	if err := tx.Apply(ctx, run, plan, nil); err != nil {
		t.Fatalf("apply rotation: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit rotation: %v", err)
	}
	if got := emails(mustUsers(t, dir, "t1", "")); got["a"] != "B@x.test" || got["b"] != "c@x.test" || got["c"] != "a@X.test" {
		t.Fatalf("after rotation e-mails = %v", got)
	}
}

// testUniquenessViolation: plans that break a uniqueness rule fail with
// ECONFLICT (at Apply, or at Commit where PostgreSQL defers the check), and
// after Rollback nothing of them is left: not the valid changes before the
// bad one, not the run, not the log, not the events. A Commit after a failed
// Apply keeps nothing either.
func testUniquenessViolation(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s1 := snapshot([]sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test")}, []string{"a", "b"}, secGroup("g1", "Eng", "a"))
	cycle(t, dir, s1, now)
	before := snapshotDir(t, dir)
	ctx := context.Background()

	cases := []struct {
		name, constraint string
		bad              func(st *sync.State) sync.Change
	}{
		{"CreateWithTakenEmail", "users_email_unique", func(*sync.State) sync.Change {
			u := &sync.User{EntraID: "c", Origin: sync.OriginProvisioned, UserPrincipalName: "c@x.test", Mail: "A@X.TEST",
				Email: "A@X.TEST", AccountEnabled: true, Status: sync.StatusStaged, Paths: []string{sync.PathDirect}}
			return sync.Change{Action: sync.ActionCreate, Entity: sync.EntityUser, EntraID: "c", Label: "c", Reason: "test", After: u}
		}},
		{"UpdateToTakenEmail", "users_email_unique", func(st *sync.State) sync.Change {
			b := byEntra(t, st.Users, "b")
			after := b
			after.Mail, after.Email = "a@x.test", "a@x.test"
			return sync.Change{Action: sync.ActionUpdate, Entity: sync.EntityUser, EntraID: "b", Label: "b", Reason: "test", Before: &b, After: &after}
		}},
		{"SecondLiveUserForEntraID", "users_entra_id", func(*sync.State) sync.Change {
			u := &sync.User{EntraID: "a", Origin: sync.OriginProvisioned, UserPrincipalName: "a2@x.test", Mail: "a2@x.test",
				Email: "a2@x.test", AccountEnabled: true, Status: sync.StatusStaged}
			return sync.Change{Action: sync.ActionCreate, Entity: sync.EntityUser, EntraID: "a", Label: "a2", Reason: "test", After: u}
		}},
	}
	for _, c := range cases {
		for _, commitAnyway := range []bool{false, true} {
			tx, err := dir.Begin(ctx, "t1")
			if err != nil {
				t.Fatalf("%s: begin: %v", c.name, err)
			}
			st, err := tx.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// A valid rename of a and a valid new group come first.
			a := byEntra(t, st.Users, "a")
			renamed := a
			renamed.DisplayName = "Renamed"
			plan := &sync.Plan{TenantID: "t1", Changes: []sync.Change{
				{Action: sync.ActionUpdate, Entity: sync.EntityUser, EntraID: "a", Label: "a", Reason: "test", Before: &a, After: &renamed},
				{Action: sync.ActionCreate, Entity: sync.EntityGroup, EntraID: "g2", Label: "G2", Reason: "test",
					GroupAfter: &sync.Group{EntraID: "g2", Origin: sync.OriginProvisioned, DisplayName: "G2"}},
				c.bad(st),
			}}
			run := &sync.Run{TenantID: "t1", Trigger: "test", StartedAt: now, FinishedAt: now, Outcome: sync.OutcomeSucceeded}
			err = tx.Apply(ctx, run, plan, plan.Events())
			if err == nil {
				// PostgreSQL checks the deferred e-mail constraint at commit.
				err = tx.Commit()
			} else if commitAnyway {
				if cerr := tx.Commit(); cerr == nil {
					t.Errorf("%s: Commit after a failed Apply succeeded", c.name)
				}
			}
			if code := sync.ErrorCode(err); code != sync.ECONFLICT || !strings.Contains(err.Error(), "unique constraint "+c.constraint+" violated") {
				t.Errorf("%s: apply/commit = %v (code %q), want ECONFLICT naming %s", c.name, err, code, c.constraint)
			}
			if err := tx.Rollback(); err != nil {
				t.Errorf("%s: rollback: %v", c.name, err)
			}
			if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
				t.Fatalf("%s (commit anyway %v): directory changed by a failed apply:\nbefore %+v\nafter  %+v", c.name, commitAnyway, before, after)
			}
		}
	}
	// The directory is still usable: a valid cycle applies.
	if p := cycle(t, dir, snapshot([]sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test"), user("c", "c@x.test")},
		[]string{"a", "b", "c"}, secGroup("g1", "Eng", "a")), now.Add(time.Hour)); p.Counts()["user.create"] != 1 {
		t.Fatalf("cycle after failures: %v", p.Counts())
	}
}

// testArchiveRestore: archive keeps the row and the status it had; restore
// brings both back under the same local id. Times round-trip in UTC.
func testArchiveRestore(t *testing.T, dir store.Store) {
	settings := sync.DefaultTenantSettings()
	settings.AutoInvite = true
	registerTenant(t, dir, "t1", settings)
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC)
	a, b := user("a", "a@x.test"), user("b", "b@x.test")
	s1 := snapshot([]sync.EntraUser{a, b}, []string{"a", "b"})
	cycle(t, dir, s1, now)
	orig := byEntra(t, mustUsers(t, dir, "t1", ""), "a")
	if orig.Status != sync.StatusInvited {
		t.Fatalf("created user status = %s, want invited (auto-invite)", orig.Status)
	}
	// a is unassigned; the archive time is given in another zone.
	archivedAt := now.Add(time.Hour).In(time.FixedZone("UTC+2", 2*3600))
	p := cycle(t, dir, snapshot([]sync.EntraUser{a, b}, []string{"b"}), archivedAt)
	if p.Counts()["user.archive"] != 1 {
		t.Fatalf("archive cycle counts = %v", p.Counts())
	}
	arch := mustUsers(t, dir, "t1", sync.StatusArchived)
	if len(arch) != 1 {
		t.Fatalf("archived users = %+v", arch)
	}
	u := arch[0]
	if u.ID != orig.ID || u.PreviousStatus != sync.StatusInvited || u.ArchiveReason == "" || len(u.Paths) != 0 ||
		u.ArchivedAt == nil || !u.ArchivedAt.Equal(archivedAt) || u.ArchivedAt.Location() != time.UTC {
		t.Fatalf("archived user = %+v (archivedAt %v), want id %d, previous invited, archived at %v UTC", u, u.ArchivedAt, orig.ID, archivedAt)
	}
	if p := replan(t, dir, snapshot([]sync.EntraUser{a, b}, []string{"b"})); !p.Empty() {
		t.Fatalf("re-plan after archive not empty: %+v", p.Changes)
	}
	p = cycle(t, dir, s1, now.Add(2*time.Hour))
	if p.Counts()["user.restore"] != 1 {
		t.Fatalf("restore cycle counts = %v", p.Counts())
	}
	r := byEntra(t, mustUsers(t, dir, "t1", ""), "a")
	if r.ID != orig.ID || r.Status != sync.StatusInvited || r.PreviousStatus != "" || r.ArchivedAt != nil || r.ArchiveReason != "" ||
		len(r.Paths) != 1 || r.Paths[0] != sync.PathDirect {
		t.Fatalf("restored user = %+v, want id %d back as invited with path direct", r, orig.ID)
	}
	if n := len(mustUsers(t, dir, "t1", "")); n != 2 {
		t.Fatalf("%d users after restore, want 2", n)
	}
	var types []string
	for _, e := range mustEvents(t, dir, "t1", 0, 0) {
		if e.EntraID == "a" {
			types = append(types, e.Type)
			if e.Type == "user.archived" && e.Data["previousStatus"] != "invited" {
				t.Errorf("user.archived data = %v", e.Data)
			}
			if e.Type == "user.restored" && e.Data["status"] != "invited" {
				t.Errorf("user.restored data = %v", e.Data)
			}
		}
	}
	if want := []string{"user.created", "user.invited", "user.archived", "user.restored"}; !reflect.DeepEqual(types, want) {
		t.Fatalf("events of a = %v, want %v", types, want)
	}
}

// testGroupArchive: a group no longer assigned is archived, loses its
// memberships and keeps its per-group settings and id; reassigned, it is
// restored with its members.
func testGroupArchive(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a, b := user("a", "a@x.test"), user("b", "b@x.test")
	s1 := snapshot([]sync.EntraUser{a, b}, []string{"a", "b"}, secGroup("g1", "Eng", "a", "b"), secGroup("g2", "Ops", "a"))
	cycle(t, dir, s1, now)
	rawExec(t, dir, `UPDATE groups SET members_may_store_data = FALSE, require_mobile_auth = TRUE WHERE entra_id = 'g1'`)
	gs := mustGroups(t, dir, "t1")
	if len(gs) != 2 || len(gs[0].Members) != 2 || gs[0].MembersMayStoreData == nil || *gs[0].MembersMayStoreData {
		t.Fatalf("groups before archive = %+v", gs)
	}
	g1 := gs[0]

	s2 := snapshot([]sync.EntraUser{a, b}, []string{"a", "b"}, secGroup("g2", "Ops", "a"))
	p := cycle(t, dir, s2, now.Add(time.Hour))
	if p.Counts()["group.archive"] != 1 || p.Counts()["user.update"] != 2 {
		t.Fatalf("archive cycle counts = %v", p.Counts())
	}
	gs = mustGroups(t, dir, "t1")
	g := gs[0]
	if g.ID != g1.ID || !g.Archived() || !g.ArchivedAt.Equal(now.Add(time.Hour)) || g.ArchiveReason == "" || len(g.Members) != 0 ||
		g.MembersMayStoreData == nil || *g.MembersMayStoreData || g.RequireMobileAuth == nil || !*g.RequireMobileAuth {
		t.Fatalf("archived group = %+v", g)
	}
	if len(gs[1].Members) != 1 || gs[1].Archived() {
		t.Fatalf("other group = %+v", gs[1])
	}
	for _, u := range mustUsers(t, dir, "t1", "") {
		if u.Status != sync.StatusStaged || !reflect.DeepEqual(u.Paths, []string{sync.PathDirect}) && !reflect.DeepEqual(u.Paths, []string{sync.PathDirect, sync.GroupPath("g2")}) {
			t.Fatalf("user after group archive = %+v", u)
		}
	}
	if p := replan(t, dir, s2); !p.Empty() {
		t.Fatalf("re-plan after group archive not empty: %+v", p.Changes)
	}

	p = cycle(t, dir, s1, now.Add(2*time.Hour))
	if p.Counts()["group.restore"] != 1 || p.Counts()["membership.add"] != 2 {
		t.Fatalf("restore cycle counts = %v", p.Counts())
	}
	g = mustGroups(t, dir, "t1")[0]
	if g.ID != g1.ID || g.Archived() || g.ArchiveReason != "" || !reflect.DeepEqual(g.Members, []string{"a", "b"}) ||
		g.MembersMayStoreData == nil || *g.MembersMayStoreData || g.RequireMobileAuth == nil || !*g.RequireMobileAuth {
		t.Fatalf("restored group = %+v", g)
	}
	if p := replan(t, dir, s1); !p.Empty() {
		t.Fatalf("re-plan after group restore not empty: %+v", p.Changes)
	}
}

// testPurge: purging erases personal data and keeps a tombstone with the
// ids; the e-mail and the Entra id are free again, so the same Entra user
// coming back is created anew.
func testPurge(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a := user("a", "a@x.test")
	a.GivenName, a.Surname = "Ada", "Lovelace"
	s1 := snapshot([]sync.EntraUser{a, user("b", "b@x.test")}, []string{"a", "b"}, secGroup("g1", "Eng", "a", "b"))
	cycle(t, dir, s1, now)
	old := byEntra(t, mustUsers(t, dir, "t1", ""), "a")
	// Unassigned and archived first, as an administrator would purge.
	cycle(t, dir, snapshot([]sync.EntraUser{a, user("b", "b@x.test")}, []string{"b"}, secGroup("g1", "Eng", "b")), now.Add(time.Hour))

	if err := dir.PurgeUser(ctx, "t1", old.ID); err != nil {
		t.Fatalf("purge: %v", err)
	}
	purged := mustUsers(t, dir, "t1", sync.StatusPurged)
	if len(purged) != 1 {
		t.Fatalf("purged users = %+v", purged)
	}
	ts := purged[0]
	if ts.ID != old.ID || ts.EntraID != "a" || ts.Email != "" || ts.Mail != "" || ts.UserPrincipalName != "" ||
		ts.DisplayName != "" || ts.GivenName != "" || ts.Surname != "" || ts.ArchiveReason != "" || len(ts.Paths) != 0 {
		t.Fatalf("tombstone = %+v", ts)
	}
	if g := mustGroups(t, dir, "t1")[0]; !reflect.DeepEqual(g.Members, []string{"b"}) {
		t.Fatalf("group members after purge = %v", g.Members)
	}
	if err := dir.PurgeUser(ctx, "t1", old.ID); sync.ErrorCode(err) != sync.ENOTFOUND {
		t.Fatalf("second purge = %v, want ENOTFOUND", err)
	}
	if err := dir.PurgeUser(ctx, "other", old.ID); sync.ErrorCode(err) != sync.ENOTFOUND {
		t.Fatalf("purge in another tenant = %v, want ENOTFOUND", err)
	}

	// The state a cycle sees has no tombstone; a is created anew.
	p := cycle(t, dir, s1, now.Add(2*time.Hour))
	if p.Counts()["user.create"] != 1 || p.Counts()["membership.add"] != 1 {
		t.Fatalf("re-create cycle counts = %v", p.Counts())
	}
	all := mustUsers(t, dir, "t1", "")
	if len(all) != 3 {
		t.Fatalf("users after re-create = %+v, want tombstone + 2 live", all)
	}
	fresh := byEntra(t, all, "a")
	if fresh.ID == old.ID || fresh.Email != "a@x.test" || fresh.GivenName != "Ada" || fresh.Status != sync.StatusStaged {
		t.Fatalf("re-created user = %+v (old id %d)", fresh, old.ID)
	}
	if p := replan(t, dir, s1); !p.Empty() {
		t.Fatalf("re-plan after re-create not empty: %+v", p.Changes)
	}
}

// testEventsOrder: events come back in the order written, after a given id,
// limited, and only the tenant's own.
func testEventsOrder(t *testing.T, dir store.Store) {
	registerTenant(t, dir, "t1", sync.DefaultTenantSettings())
	registerTenant(t, dir, "t2", sync.DefaultTenantSettings())
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := snapshot([]sync.EntraUser{user("c", "c@x.test"), user("a", "a@x.test"), user("b", "b@x.test")},
		[]string{"a", "b", "c"}, secGroup("g1", "Eng", "a", "c"))
	p := cycleFor(t, dir, "t1", s, now)
	cycleFor(t, dir, "t2", snapshot([]sync.EntraUser{user("z", "z@x.test")}, []string{"z"}), now)
	p2 := cycleFor(t, dir, "t1", snapshot([]sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test")}, []string{"a", "b"}), now.Add(time.Hour))

	var want []string
	for _, e := range append(p.Events(), p2.Events()...) {
		want = append(want, e.Type+" "+e.EntraID+" "+e.GroupEntraID)
	}
	evs := mustEvents(t, dir, "t1", 0, 0)
	var got []string
	for i, e := range evs {
		got = append(got, e.Type+" "+e.EntraID+" "+e.GroupEntraID)
		if e.TenantID != "t1" || e.RunID == 0 || e.CreatedAt.IsZero() || e.CreatedAt.Location() != time.UTC {
			t.Errorf("event %d = %+v", i, e)
		}
		if i > 0 && e.ID <= evs[i-1].ID {
			t.Fatalf("event ids not increasing: %d after %d", e.ID, evs[i-1].ID)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events =\n%v\nwant\n%v", got, want)
	}
	if rest := mustEvents(t, dir, "t1", evs[0].ID, 0); !reflect.DeepEqual(rest, evs[1:]) {
		t.Fatalf("events after %d = %+v", evs[0].ID, rest)
	}
	if one := mustEvents(t, dir, "t1", evs[1].ID, 1); len(one) != 1 || one[0].ID != evs[2].ID {
		t.Fatalf("events after %d limit 1 = %+v", evs[1].ID, one)
	}
	if none := mustEvents(t, dir, "t1", evs[len(evs)-1].ID, 0); len(none) != 0 {
		t.Fatalf("events after the last = %+v", none)
	}
	other := mustEvents(t, dir, "t2", 0, 0)
	if len(other) != 1 || other[0].TenantID != "t2" || other[0].EntraID != "z" {
		t.Fatalf("t2 events = %+v", other)
	}
}

// testRunsOrder: runs come newest first, per tenant or all, and round-trip.
func testRunsOrder(t *testing.T, dir store.Store) {
	ctx := context.Background()
	registerTenant(t, dir, "t1", sync.DefaultTenantSettings())
	registerTenant(t, dir, "t2", sync.DefaultTenantSettings())
	start := time.Date(2026, 11, 23, 12, 0, 0, 250000000, time.FixedZone("UTC-5", -5*3600))
	failed := &sync.Run{TenantID: "t1", Trigger: "schedule", StartedAt: start, FinishedAt: start.Add(1500 * time.Millisecond),
		Outcome: sync.OutcomeFailed, GraphRequests: 3, ReadMillis: 1500, Error: "graph snapshot incomplete: boom",
		Counts: sync.Counts{}, Conflicts: []sync.Conflict{{Action: sync.ActionCreate, EntraID: "x", Label: "x@x.test",
			Email: "x@x.test", HolderID: 7, HolderLabel: "y@x.test", Reason: "e-mail already belongs to another local user"}}}
	if err := dir.RecordRun(ctx, failed); err != nil || failed.ID == 0 {
		t.Fatalf("record run: id %d, %v", failed.ID, err)
	}
	cycleFor(t, dir, "t1", snapshot([]sync.EntraUser{user("a", "a@x.test")}, []string{"a"}), start.Add(time.Minute))
	other := &sync.Run{TenantID: "t2", Trigger: "cli", StartedAt: start, FinishedAt: start, Outcome: sync.OutcomeFailed}
	if err := dir.RecordRun(ctx, other); err != nil {
		t.Fatal(err)
	}
	ids := func(runs []sync.Run) (out []int64) {
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	t1, err := dir.Runs(ctx, "t1", 0)
	if err != nil || len(t1) != 2 || t1[0].ID <= t1[1].ID || t1[1].ID != failed.ID || t1[0].TenantID != "t1" || t1[1].TenantID != "t1" {
		t.Fatalf("Runs(t1) = %v, %v", ids(t1), err)
	}
	all, err := dir.Runs(ctx, "", 0)
	if err != nil || !reflect.DeepEqual(ids(all), []int64{other.ID, t1[0].ID, failed.ID}) {
		t.Fatalf("Runs(all) = %v, %v; want %v", ids(all), err, []int64{other.ID, t1[0].ID, failed.ID})
	}
	if one, err := dir.Runs(ctx, "t1", 1); err != nil || len(one) != 1 || one[0].ID != t1[0].ID {
		t.Fatalf("Runs(t1, 1) = %v, %v", ids(one), err)
	}
	if none, err := dir.Runs(ctx, "nobody", 0); err != nil || len(none) != 0 {
		t.Fatalf("Runs(nobody) = %v, %v", none, err)
	}
	got, log, err := dir.Run(ctx, failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *failed
	want.StartedAt, want.FinishedAt = failed.StartedAt.UTC(), failed.FinishedAt.UTC()
	if !reflect.DeepEqual(*got, want) || len(log) != 0 {
		t.Fatalf("Run(%d) =\n%+v\nwant\n%+v\nlog %+v", failed.ID, *got, want, log)
	}
}

// testBeginSerialises: while one transaction of a tenant is open, a second
// Begin of that tenant waits; it returns only after the first committed, and
// then sees its writes. The order is asserted with channels; the only clock
// is a deadline that proves a third Begin is still blocked.
func testBeginSerialises(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	txA, stA := mustBegin(t, ctx, dir, "t1")
	defer func() { _ = txA.Rollback() }()
	plan := sync.Diff(snapshot([]sync.EntraUser{user("a", "a@x.test")}, []string{"a"}), stA, now)
	runA := &sync.Run{TenantID: "t1", Trigger: "A", StartedAt: now, FinishedAt: now, Outcome: sync.OutcomeSucceeded}
	if err := txA.Apply(ctx, runA, plan, plan.Events()); err != nil {
		t.Fatal(err)
	}

	var mu gosync.Mutex
	var order []string
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	type result struct {
		users int
		err   error
	}
	started := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		close(started)
		txB, err := dir.Begin(ctx, "t1")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer func() { _ = txB.Rollback() }()
		note("B began")
		st, err := txB.State(ctx)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{users: len(st.Users)}
	}()
	<-started

	// A third Begin with a deadline cannot get in while A is open.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	txC, err := dir.Begin(short, "t1")
	cancel()
	if err == nil {
		_ = txC.Rollback()
		t.Fatal("Begin went through while another transaction of the tenant was open")
	}
	select {
	case r := <-done:
		t.Fatalf("second Begin returned while the first transaction was open: %+v", r)
	default:
	}

	note("A commits")
	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("second Begin: %v", r.err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(order, []string{"A commits", "B began"}) {
		t.Fatalf("order = %v, want A's commit before B's Begin returned", order)
	}
	if r.users != 1 {
		t.Fatalf("second transaction saw %d users, want the 1 the first committed", r.users)
	}
}

// testPurgeEvent: a purge writes a user.purged event that Events can read.
func testPurgeEvent(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	cycle(t, dir, snapshot([]sync.EntraUser{user("a", "a@x.test")}, []string{"a"}), time.Now())
	u := byEntra(t, mustUsers(t, dir, "t1", ""), "a")
	if err := dir.PurgeUser(context.Background(), "t1", u.ID); err != nil {
		t.Fatalf("purge: %v", err)
	}
	evs := mustEvents(t, dir, "t1", 0, 0)
	if last := evs[len(evs)-1]; last.Type != "user.purged" || last.Data["userId"] != strconv.FormatInt(u.ID, 10) ||
		last.TenantID != "t1" || last.RunID != 0 {
		t.Fatalf("last event = %+v, want user.purged of %d", last, u.ID)
	}
}
