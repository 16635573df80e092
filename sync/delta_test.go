package sync_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

// Incremental cycles (docs/behaviour.md C11) against the simulated tenant
// with the real SDK: the incremental result equals the full result, faults
// leave the directory and the delta state as they were, and a token Graph
// no longer accepts makes the cycle read in full.

// twinOf is a harness on its own (in-memory) directory over h's tenant,
// for a directory that follows it by full cycles only.
func twinOf(t *testing.T, h *harness) *harness {
	t.Helper()
	db := synctest.NewMemory()
	if err := db.RegisterTenant(context.Background(), sync.Tenant{ID: tenantName, EntraTenantID: h.srv.Tenant().TenantID, Settings: looseSettings()}); err != nil {
		t.Fatal(err)
	}
	return &harness{srv: h.srv, db: db, src: mustSource(t, h.srv, 2), syncer: sync.NewSyncer(db, nil)}
}

// looseSettings never hold a change (the guard has its own tests): the
// property is about what is read, not what is let through.
func looseSettings() sync.TenantSettings {
	s := sync.DefaultTenantSettings()
	s.ArchiveThreshold, s.ArchiveThresholdPercent = 1_000_000, 100
	s.GroupArchiveThreshold, s.GroupArchiveThresholdPercent = 1_000_000, 100
	s.MembershipRemovalThreshold, s.MembershipRemovalThresholdPercent = 1_000_000, 100
	return s
}

// directoryOf renders a tenant's users and groups without local ids or
// times: two directories that followed the same tenant render the same.
func directoryOf(t *testing.T, db sync.Store, tenant string) string {
	t.Helper()
	ctx := context.Background()
	users, err := db.Users(ctx, tenant, "")
	if err != nil {
		t.Fatal(err)
	}
	groups, err := db.Groups(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, u := range users {
		lines = append(lines, fmt.Sprintf("user %s %s %s %q %q %q %q enabled=%v prev=%s paths=%v reason=%q", u.EntraID, u.Status, u.Email,
			u.UserPrincipalName, u.DisplayName, u.GivenName, u.Surname, u.AccountEnabled, u.PreviousStatus, u.Paths, u.ArchiveReason))
	}
	for _, g := range groups {
		m := slices.Clone(g.Members)
		slices.Sort(m)
		lines = append(lines, fmt.Sprintf("group %s %q archived=%v reason=%q members=%v", g.EntraID, g.DisplayName, g.Archived(), g.ArchiveReason, m))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// deltaTenant: 40 users, 6 security groups (one nesting another, one with
// a device), a Microsoft 365 group, direct assignments.
func deltaTenant() *graphtest.Tenant {
	tn := baseTenant()
	tn.Users, tn.Groups, tn.Assignments = nil, nil, nil
	for i := 1; i <= 40; i++ {
		tn.Users = append(tn.Users, tuser(i, i%9 != 0))
	}
	for g := 0; g < 6; g++ {
		grp := secGroup(100+g, fmt.Sprintf("Team %d", g))
		for i := 1 + g*5; i <= 12+g*5 && i <= 40; i++ {
			grp.Members = append(grp.Members, gid(i))
		}
		tn.Groups = append(tn.Groups, grp)
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: grp.ID})
	}
	tn.Groups[0].Members = append(tn.Groups[0].Members, gid(105), botID) // a nested group, a service principal
	tn.Groups = append(tn.Groups, graphtest.Group{ID: gid(120), DisplayName: "All", GroupTypes: []string{"Unified"}, MailEnabled: true,
		SecurityEnabled: false, Members: []string{gid(1), gid(2)}})
	tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(120)})
	for i := 30; i <= 40; i++ {
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(i)})
	}
	return tn
}

// mutate applies one random change to the tenant and says what it was.
func mutate(r *rand.Rand, srv *graphtest.Server, next *int) string {
	tn := srv.Tenant()
	user := func() string { return tn.Users[r.IntN(len(tn.Users))].ID }
	group := func() string { return tn.Groups[r.IntN(len(tn.Groups))].ID }
	switch k := r.IntN(14); k {
	case 0:
		id := user()
		setUser(srv, id, func(u *graphtest.User) { u.DisplayName = fmt.Sprintf("Renamed %d", r.IntN(1000)) })
		return "rename user " + id
	case 1:
		id := user()
		setUser(srv, id, func(u *graphtest.User) { u.Mail = fmt.Sprintf("m%d-%s@acme.test", r.IntN(1000), id[len(id)-3:]) })
		return "change mail of " + id
	case 2:
		id := user()
		setUser(srv, id, func(u *graphtest.User) { u.AccountEnabled = !u.AccountEnabled })
		return "toggle enabled " + id
	case 3:
		if len(tn.Users) < 20 {
			return "nothing"
		}
		id := user()
		srv.DeleteUser(id)
		return "delete user " + id
	case 4:
		*next++
		u := tuser(*next, true)
		srv.SetUser(u)
		if r.IntN(2) == 0 {
			srv.Assign(u.ID)
		} else {
			srv.AddMember(group(), u.ID)
		}
		return "new user " + u.ID
	case 5:
		id := user()
		srv.Assign(id)
		return "assign " + id
	case 6:
		id := user()
		srv.Unassign(id)
		return "unassign " + id
	case 7:
		g, u := group(), user()
		srv.AddMember(g, u)
		return "add " + u + " to " + g
	case 8:
		g := tn.Groups[r.IntN(len(tn.Groups))]
		if len(g.Members) == 0 {
			return "nothing"
		}
		m := g.Members[r.IntN(len(g.Members))]
		srv.RemoveMember(g.ID, m)
		return "remove " + m + " from " + g.ID
	case 9:
		g := tn.Groups[r.IntN(len(tn.Groups))]
		g.DisplayName = fmt.Sprintf("Team %d", r.IntN(1000))
		srv.SetGroup(g)
		return "rename group " + g.ID
	case 10:
		*next++
		g := secGroup(*next, fmt.Sprintf("New %d", *next))
		for range 1 + r.IntN(8) {
			g.Members = append(g.Members, user())
		}
		srv.SetGroup(g)
		srv.Assign(g.ID)
		return "new group " + g.ID
	case 11:
		id := group()
		if r.IntN(3) == 0 {
			srv.DeleteGroup(id)
			return "delete group " + id
		}
		srv.Unassign(id)
		return "unassign group " + id
	case 12:
		g := tn.Groups[r.IntN(len(tn.Groups))]
		g.SecurityEnabled = !g.SecurityEnabled
		srv.SetGroup(g)
		if r.IntN(2) == 0 {
			srv.Assign(g.ID)
		}
		return "toggle security " + g.ID
	default:
		ids := []string{user(), group()}
		srv.ReplayDelta(ids...)
		return "replay " + strings.Join(ids, " ")
	}
}

// TestC11_IncrementalEqualsFull applies random sequences of tenant
// changes; after each round one directory runs an incremental cycle and a
// twin a full one, and the two must agree, change for change; at the end a
// full cycle of the incremental directory finds nothing to change. On both
// backends, with assignment changes served and not.
func TestC11_IncrementalEqualsFull(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"postgres", "sqlite"} {
		for _, assignmentDelta := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/assignment-delta=%v", backend, assignmentDelta), func(t *testing.T) {
				t.Parallel()
				var db sync.Store
				if backend == "postgres" {
					db = mustPostgres(t)
				} else {
					db = storetest.MustOpenSQLite(t)
				}
				for seed := uint64(1); seed <= 3; seed++ {
					incrementalEqualsFull(t, db, seed, assignmentDelta)
				}
			})
		}
	}
}

func incrementalEqualsFull(t *testing.T, db sync.Store, seed uint64, assignmentDelta bool) {
	ctx := context.Background()
	opts := []graphtest.Option{graphtest.WithDeltaMemberChunk(3)}
	if !assignmentDelta {
		opts = append(opts, graphtest.WithoutAssignmentDelta())
	}
	srv := graphtest.NewServer(deltaTenant(), opts...)
	defer srv.Close()
	tenant := fmt.Sprintf("%s-%d", tenantName, seed)
	if err := db.RegisterTenant(ctx, sync.Tenant{ID: tenant, EntraTenantID: srv.Tenant().TenantID, Settings: looseSettings()}); err != nil {
		t.Fatal(err)
	}
	inc := &harness{srv: srv, db: db, src: mustSource(t, srv, 2), syncer: sync.NewSyncer(db, nil)}
	full := twinOf(t, inc)
	r := rand.New(rand.NewPCG(seed, 10))
	next := 1000
	var history []string
	for round := 0; round < 25; round++ {
		for range r.IntN(6) {
			history = append(history, mutate(r, srv, &next))
		}
		if round == 12 {
			// A big round: more changes than a delta page holds.
			srv.Update(func(tn *graphtest.Tenant) {
				for i := range tn.Users {
					tn.Users[i].Surname += "+"
				}
			})
			for i := range 120 {
				srv.SetUser(tuser(2000+i, true))
				srv.AddMember(gid(101), gid(2000+i))
			}
			history = append(history, "big round")
		}
		if round == 18 {
			srv.ExpireDeltaTokens(graphtest.DeltaGone)
			history = append(history, "tokens expired")
		}
		ri, err := inc.syncer.Cycle(ctx, tenant, inc.src, sync.CycleOptions{Trigger: "test"})
		if err != nil {
			t.Fatalf("seed %d round %d: incremental cycle: %v\nhistory: %v", seed, round, err, history)
		}
		rf, err := full.syncer.Cycle(ctx, tenantName, full.src, sync.CycleOptions{Trigger: "test", Full: true})
		if err != nil {
			t.Fatalf("seed %d round %d: full cycle: %v", seed, round, err)
		}
		wantMode := sync.ModeIncremental
		if round == 0 || round == 18 {
			wantMode = sync.ModeFull
		}
		// A full read that added members to many groups is followed by one
		// more full read.
		once := ri.Run.Mode == sync.ModeFull && strings.Contains(ri.Run.FullReason, "once more")
		if ri.Run.Mode != wantMode && !once {
			t.Fatalf("seed %d round %d: mode %s (%s), want %s", seed, round, ri.Run.Mode, ri.Run.FullReason, wantMode)
		}
		if a, b := fmt.Sprint(ri.Plan.Counts()), fmt.Sprint(rf.Plan.Counts()); a != b {
			t.Fatalf("seed %d round %d: incremental planned %s, full %s\nhistory: %v", seed, round, a, b, history)
		}
		if a, b := directoryOf(t, db, tenant), directoryOf(t, full.db, tenantName); a != b {
			t.Fatalf("seed %d round %d: directories differ\n--- incremental\n%s\n--- full\n%s\nhistory: %v", seed, round, a, b, history)
		}
	}
	res, err := inc.syncer.Cycle(ctx, tenant, inc.src, sync.CycleOptions{Trigger: "test", Full: true})
	if err != nil || !res.Plan.Empty() {
		t.Fatalf("seed %d: a full cycle after the incremental ones: %v, plan %v", seed, err, res.Plan.Counts())
	}
}

// deltaHarness is a harness whose first (full) cycle has taken delta links.
func deltaHarness(t *testing.T) *harness {
	t.Helper()
	h := MustHarness(t, glitchTenant(30), nil)
	if res := h.cycle(t); res.Run.Mode != sync.ModeFull || res.Run.FullReason != "no delta state yet" {
		t.Fatalf("first cycle: mode %s (%s)", res.Run.Mode, res.Run.FullReason)
	}
	return h
}

// deltaStateOf renders the tenant's delta state without its mirror.
func deltaStateOf(t *testing.T, h *harness) string {
	t.Helper()
	st, err := h.db.DeltaState(context.Background(), tenantName)
	if err != nil || st == nil {
		t.Fatalf("delta state: %v, %v", st, err)
	}
	return fmt.Sprintf("%s %v %s gen=%d mirror=%d", st.Strategy, st.Links, st.TakenAt, st.Generation, len(st.Mirror))
}

// TestC4_FaultInADeltaPageLeavesDirectoryAndDeltaStateUnchanged injects a
// fault into each delta round of an incremental cycle that would change
// the directory.
func TestC4_FaultInADeltaPageLeavesDirectoryAndDeltaStateUnchanged(t *testing.T) {
	t.Parallel()
	for _, f := range []struct {
		name  string
		fault graphtest.Fault
		want  string
	}{
		{"users/delta 500 beyond retries", graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Status: 500}, "users/delta, page 1: HTTP 500"},
		{"groups/delta truncated", graphtest.Fault{Endpoint: "GET /v1.0/groups/delta", Truncate: true}, "groups/delta, page 1: malformed"},
		{"directoryObjects/delta without value", graphtest.Fault{Endpoint: "GET /v1.0/directoryObjects/delta", Body: `{"@odata.context":"x"}`}, "no value array"},
		{"a round that ends without a deltaLink", graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Body: `{"value":[]}`}, "ends the round without an @odata.deltaLink"},
		{"a member without an id", graphtest.Fault{Endpoint: "GET /v1.0/groups/delta",
			Body: `{"value":[{"id":"` + gid(100) + `","members@delta":[{"@odata.type":"#microsoft.graph.user"}]}],"@odata.deltaLink":"x"}`}, "a member has no valid id"},
	} {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			h := deltaHarness(t)
			setUser(h.srv, gid(3), func(u *graphtest.User) { u.AccountEnabled = false })
			h.srv.RemoveMember(gid(100), gid(1000))
			setUser(h.srv, gid(2), func(u *graphtest.User) { u.Mail = "new@acme.test" })
			before, state := h.dump(t), deltaStateOf(t, h)
			h.srv.InjectFault(f.fault)
			res, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{Trigger: "test"})
			if err == nil || !errors.Is(err, sync.ErrSnapshotIncomplete) || !strings.Contains(err.Error(), f.want) {
				t.Fatalf("cycle: %v (plan %v), want a failed read naming %q", err, res.Plan, f.want)
			}
			if res.Run.Mode != sync.ModeIncremental {
				t.Fatalf("mode %s, want incremental", res.Run.Mode)
			}
			if h.dump(t) != before || deltaStateOf(t, h) != state {
				t.Fatalf("a failed incremental read changed the directory or the delta state")
			}
			h.srv.ClearFaults()
			if res := h.cycle(t); res.Run.Mode != sync.ModeIncremental || res.Plan.Counts()["user.archive"] != 2 || res.Plan.Counts()["user.update"] != 1 {
				t.Fatalf("next cycle (%s) = %v, want the changes since the last applied cycle", res.Run.Mode, res.Plan.Counts())
			}
		})
	}
}

// TestC11_TokenGraphNoLongerAcceptsReadsInFull: 410 Gone and
// syncStateNotFound make the cycle read in full, logged and recorded on
// the run, and the next cycle is incremental again.
func TestC11_TokenGraphNoLongerAcceptsReadsInFull(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		expiry graphtest.DeltaExpiry
		want   string
	}{{graphtest.DeltaGone, "HTTP 410"}, {graphtest.DeltaSyncStateNotFound, "syncStateNotFound"}} {
		t.Run(mode.want, func(t *testing.T) {
			t.Parallel()
			h := deltaHarness(t)
			h.srv.ExpireDeltaTokens(mode.expiry)
			setUser(h.srv, gid(2), func(u *graphtest.User) { u.DisplayName = "Renamed" })
			res := h.cycle(t)
			if res.Run.Mode != sync.ModeFull || !strings.Contains(res.Run.FullReason, mode.want) || res.Plan.Counts()["user.update"] != 1 {
				t.Fatalf("cycle: mode %s (%s), plan %v; want a full read saying why, applying the rename", res.Run.Mode, res.Run.FullReason, res.Plan.Counts())
			}
			runs, _ := h.db.Runs(context.Background(), tenantName, 1)
			if len(runs) != 1 || runs[0].Mode != sync.ModeFull || runs[0].FullReason != res.Run.FullReason {
				t.Fatalf("recorded run = %+v", runs)
			}
			if res := h.cycle(t); res.Run.Mode != sync.ModeIncremental || !res.Plan.Empty() {
				t.Fatalf("next cycle: %s %v", res.Run.Mode, res.Plan.Counts())
			}
		})
	}
}

// TestBadInput_DeltaAnswersAMergeCannotTrust: an unknown @removed reason
// or a deltaLink to another host make the cycle read in full; nothing is
// half applied.
func TestBadInput_DeltaAnswersAMergeCannotTrust(t *testing.T) {
	t.Parallel()
	for _, f := range []struct {
		name, body, want string
	}{
		{"unknown @removed reason", `{"value":[{"id":"` + gid(2) + `","@removed":{"reason":"archived"}}],"@odata.deltaLink":"https://graph.invalid/x"}`, `unknown @removed reason "archived"`},
		{"deltaLink to another host", `{"value":[],"@odata.deltaLink":"https://attacker.example/v1.0/users/delta?$deltatoken=x"}`, "link to another host"},
		{"nextLink over http", `{"value":[],"@odata.nextLink":"http://127.0.0.1/v1.0/users/delta?$skiptoken=x"}`, "link to another host"},
	} {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			h := deltaHarness(t)
			setUser(h.srv, gid(2), func(u *graphtest.User) { u.DisplayName = "Renamed" })
			h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Body: f.body, Times: 1})
			res := h.cycle(t)
			if res.Run.Mode != sync.ModeFull || !strings.Contains(res.Run.FullReason, f.want) || res.Plan.Counts()["user.update"] != 1 {
				t.Fatalf("cycle: mode %s (%s), plan %v; want a full read naming %q", res.Run.Mode, res.Run.FullReason, res.Plan.Counts(), f.want)
			}
		})
	}
}

// TestC11_AssignmentChangesNotServedFallBackToListing: Graph refusing
// directoryObjects/delta, or answering it in a shape the merge does not
// know, makes the tenant list its assignments each cycle; the result is
// the same.
func TestC11_AssignmentChangesNotServedFallBackToListing(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, glitchTenant(30), nil)
	h.srv.SetAssignmentDelta(false)
	h.cycle(t)
	st, _ := h.db.DeltaState(context.Background(), tenantName)
	if st.Strategy != sync.StrategyDeltaListed || !strings.Contains(st.Note, "assignments are listed in full") {
		t.Fatalf("strategy %q (%s), want assignments listed", st.Strategy, st.Note)
	}
	h.srv.Unassign(gid(1))
	if res := h.cycle(t); res.Run.Mode != sync.ModeIncremental || res.Plan.Counts()["user.archive"] != 1 {
		t.Fatalf("cycle: %s %v, want user 1 archived", res.Run.Mode, res.Plan.Counts())
	}

	// Served, then answered in an unexpected shape: listed from then on.
	h2 := deltaHarness(t)
	h2.srv.Unassign(gid(1))
	h2.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/directoryObjects/delta", Times: 1,
		Body: `{"value":[{"@odata.type":"#microsoft.graph.appRoleAssignment","id":"a1","principalId":"` + gid(9) + `"}],"@odata.deltaLink":"x"}`})
	res := h2.cycle(t)
	if res.Run.Mode != sync.ModeIncremental || res.Plan.Counts()["user.archive"] != 1 {
		t.Fatalf("cycle: %s %v, want user 1 archived from the listing", res.Run.Mode, res.Plan.Counts())
	}
	if st, _ := h2.db.DeltaState(context.Background(), tenantName); st.Strategy != sync.StrategyDeltaListed || st.Links["assignments"] != "" {
		t.Fatalf("strategy %q links %v, want assignments listed", st.Strategy, st.Links)
	}
}

// TestC11_WithoutGroupsDeltaEveryCycleIsFull: groups/delta refused (403)
// leaves no strategy: every cycle reads in full and says why.
func TestC11_WithoutGroupsDeltaEveryCycleIsFull(t *testing.T) {
	t.Parallel()
	h := mustHarnessOn(t, mustPostgres(t), glitchTenant(3), nil, graphtest.WithGroupsDeltaNeedingGroupRead())
	h.cycle(t)
	res := h.cycle(t)
	if res.Run.Mode != sync.ModeFull || !strings.Contains(res.Run.FullReason, "groups/delta is not available") ||
		!strings.Contains(res.Run.FullReason, "Group.Read.All") {
		t.Fatalf("second cycle: %s (%s), want full, naming the permission", res.Run.Mode, res.Run.FullReason)
	}
}

// TestC11_WhenACycleReadsInFull: on request, after full_every, when the
// configuration that decides scope changes; dry runs and failed cycles
// never move the delta state.
func TestC11_WhenACycleReadsInFull(t *testing.T) {
	t.Parallel()
	h := deltaHarness(t)
	state := deltaStateOf(t, h)
	setUser(h.srv, gid(2), func(u *graphtest.User) { u.DisplayName = "Renamed" })
	dry := h.cycleWith(t, sync.CycleOptions{Trigger: "test", DryRun: true})
	if dry.Run.Mode != sync.ModeIncremental || dry.Plan.Counts()["user.update"] != 1 || deltaStateOf(t, h) != state {
		t.Fatalf("dry run: %s %v; the delta state must not move", dry.Run.Mode, dry.Plan.Counts())
	}
	if res := h.fullCycle(t); res.Run.Mode != sync.ModeFull || res.Run.FullReason != "full cycle requested" {
		t.Fatalf("--full: %s (%s)", res.Run.Mode, res.Run.FullReason)
	}
	if res := h.cycle(t); res.Run.Mode != sync.ModeIncremental {
		t.Fatalf("after a full cycle: %s (%s)", res.Run.Mode, res.Run.FullReason)
	}
	if res := h.cycleWith(t, sync.CycleOptions{Trigger: "test", FullEvery: time.Nanosecond}); res.Run.Mode != sync.ModeFull ||
		!strings.Contains(res.Run.FullReason, "full_every") {
		t.Fatalf("full_every elapsed: %s (%s)", res.Run.Mode, res.Run.FullReason)
	}
	// Another application: a state of another scope is not used.
	tn := h.srv.Tenant()
	other, err := graph.New(graph.Config{TenantID: tn.TenantID, ClientID: tn.ClientID, ClientSecret: tn.ClientSecret,
		AppID: tn.Application.AppID, GraphEndpoint: h.srv.GraphEndpoint(), LoginEndpoint: h.srv.LoginEndpoint(),
		Transport: h.srv.Client().Transport, MaxRetries: 2, RetryDelay: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.syncer.Cycle(context.Background(), tenantName, other, sync.CycleOptions{Trigger: "test"})
	if err != nil || res.Run.Mode != sync.ModeFull || !strings.Contains(res.Run.FullReason, "decides scope") {
		t.Fatalf("scope changed: %v %s (%s)", err, res.Run.Mode, res.Run.FullReason)
	}
}

// TestC6_MassRemovalClaimedByADeltaRoundIsNotApplied: a groups/delta round
// that claims every member of a group left (a plausible answer, but false)
// is caught by the group's member count before anything is removed (C4);
// the same cycle reads in full and finds nothing to change.
func TestC6_MassRemovalClaimedByADeltaRoundIsNotApplied(t *testing.T) {
	t.Parallel()
	h := deltaHarness(t) // group 100 has users 2, 3 and 1000..1029
	var removed []string
	for i := 1000; i < 1030; i++ {
		removed = append(removed, `{"@odata.type":"#microsoft.graph.user","id":"`+gid(i)+`","@removed":{"reason":"deleted"}}`)
	}
	body := `{"value":[{"id":"` + gid(100) + `","members@delta":[` + strings.Join(removed, ",") + `]}],` +
		`"@odata.deltaLink":"` + h.srv.GraphEndpoint() + `/v1.0/groups/delta?$deltatoken=forged"}`
	before := h.dump(t, "users", "groups", "memberships", "user_paths")
	h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/delta", Body: body, Times: 1})
	res := h.cycle(t)
	if res.Run.Mode != sync.ModeFull || !strings.Contains(res.Run.FullReason, "short of Graph's count") || !res.Plan.Empty() {
		t.Fatalf("cycle: %s (%s) %v, want the count to refuse the round and a full read to find nothing", res.Run.Mode, res.Run.FullReason, res.Plan.Counts())
	}
	if h.dump(t, "users", "groups", "memberships", "user_paths") != before {
		t.Fatalf("a forged delta round changed the directory")
	}
	if st, _ := h.db.DeltaState(context.Background(), tenantName); strings.Contains(st.Links["groups"], "forged") {
		t.Fatalf("the forged round's link was kept: %v", st.Links)
	}
	if res := h.cycle(t); res.Run.Mode != sync.ModeIncremental || !res.Plan.Empty() {
		t.Fatalf("next cycle: %s %v, want nothing to do", res.Run.Mode, res.Plan.Counts())
	}
}

// countingStore counts the directory loads (Tx.State) of the cycles.
type countingStore struct {
	sync.Store
	loads *int
}

func (c countingStore) Begin(ctx context.Context, tenantID string) (sync.Tx, error) {
	tx, err := c.Store.Begin(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return countingTx{tx.(settledTx), c.loads}, nil
}

type settledTx interface {
	sync.Tx
	sync.DeltaTx
}

type countingTx struct {
	settledTx
	loads *int
}

func (c countingTx) State(ctx context.Context) (*sync.State, error) {
	*c.loads++
	return c.settledTx.State(ctx)
}

// TestC9_SettledCycleNeitherLoadsNorPlans: an incremental round that
// changed nothing, over a directory no one wrote to since the last cycle
// applied all it planned, has nothing to plan: the cycle writes its run and
// loads nothing. Any write in between — an administrator's purge or
// setting, a cycle's changes — and conflicts or held changes left over make
// the next cycle load and plan as usual.
func TestC9_SettledCycleNeitherLoadsNorPlans(t *testing.T) {
	t.Parallel()
	t.Run("postgres", func(t *testing.T) { t.Parallel(); settledCycle(t, deltaHarness(t), true) })
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		h := mustHarnessOn(t, storetest.MustOpenSQLite(t), glitchTenant(30), nil)
		h.cycle(t)
		settledCycle(t, h, false)
	})
}

func settledCycle(t *testing.T, h *harness, dump bool) {
	ctx := context.Background()
	loads := 0
	h.syncer = sync.NewSyncer(countingStore{h.db, &loads}, nil)
	cycle := func(wantLoads int, what string) *sync.Result {
		t.Helper()
		loads = 0
		res := h.cycle(t)
		if loads != wantLoads || res.Run.Mode != sync.ModeIncremental {
			t.Fatalf("%s: %d loads of the directory (%s), want %d", what, loads, res.Run.Mode, wantLoads)
		}
		return res
	}
	before := directoryOf(t, h.db, tenantName)
	if res := cycle(0, "unchanged after the full cycle"); !res.Plan.Empty() || res.Run.Outcome != sync.OutcomeSucceeded {
		t.Fatalf("settled cycle: %v %s", res.Plan.Counts(), res.Run.Outcome)
	}
	if directoryOf(t, h.db, tenantName) != before {
		t.Fatalf("a settled cycle changed the directory")
	}
	if dump {
		before := h.dump(t, "users", "groups", "memberships", "user_paths")
		cycle(0, "unchanged, twice")
		if h.dump(t, "users", "groups", "memberships", "user_paths") != before {
			t.Fatalf("a settled cycle wrote to the directory")
		}
	}
	runs, _ := h.db.Runs(ctx, tenantName, 1)
	if len(runs) != 1 || runs[0].Mode != sync.ModeIncremental || runs[0].Outcome != sync.OutcomeSucceeded {
		t.Fatalf("the settled cycle's run: %+v", runs)
	}

	// A purge in between: the user comes back as new (L5).
	u, err := h.db.ResolveUser(ctx, tenantName, gid(1000))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.PurgeUser(ctx, tenantName, u.ID); err != nil {
		t.Fatal(err)
	}
	if res := cycle(1, "after a purge"); res.Plan.Counts()["user.create"] != 1 {
		t.Fatalf("after a purge: %v, want the user created again", res.Plan.Counts())
	}
	cycle(0, "unchanged again")

	// A setting in between: every e-mail now from the UPN.
	if _, err := h.db.SetTenantSetting(ctx, tenantName, sync.SettingChange{Name: sync.SettingEmailSource, Value: "upn"}); err != nil {
		t.Fatal(err)
	}
	setUser(h.srv, gid(1001), func(u *graphtest.User) { u.Mail = "other@acme.test" })
	cycle(1, "after a setting and a change in Graph")
	cycle(0, "unchanged again")

	// A conflict left over: the next cycle plans it again.
	h.srv.Update(func(tn *graphtest.Tenant) {
		for i := range tn.Users {
			if tn.Users[i].ID == gid(1002) {
				tn.Users[i].UserPrincipalName = "user1003@acme.test" // user 1003's e-mail
			}
		}
	})
	if res := cycle(1, "a conflict"); len(res.Plan.Conflicts) != 1 {
		t.Fatalf("conflicts = %+v", res.Plan.Conflicts)
	}
	if res := cycle(1, "the conflict again"); len(res.Plan.Conflicts) != 1 || res.Run.Outcome != sync.OutcomeConflicts {
		t.Fatalf("conflict not planned again: %+v %s", res.Plan.Conflicts, res.Run.Outcome)
	}
}

// What a full read would retry, an incremental one retries too: a group or
// a direct user Graph did not find (replication lag of objects just made)
// is looked up again next cycle; a newly assigned group's short member page
// never gets into the mirror; half a broken assignment round is not applied
// over the listing that replaces it; a settled plan says what the full one
// says besides its changes; nested groups a round adds are named.
func TestC11_IncrementalRetriesWhatAFullReadRetries(t *testing.T) {
	t.Parallel()
	newGroup := func(h *harness) graphtest.Group {
		g := secGroup(200, "New", gid(4), gid(5))
		h.srv.SetGroup(g)
		h.srv.Assign(g.ID)
		return g
	}
	t.Run("a group not found once", func(t *testing.T) {
		t.Parallel()
		h := MustMemoryHarness(t, glitchTenant(3), nil)
		h.cycle(t)
		g := newGroup(h)
		h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}", ID: g.ID, Status: 404, Times: 1})
		if res := h.cycle(t); skipped(res.Plan, sync.SkipGroup, g.ID) == nil {
			t.Fatalf("404 cycle: %v %+v", res.Plan.Counts(), res.Plan.Skipped)
		}
		if res := h.cycle(t); res.Run.Mode != sync.ModeIncremental || res.Plan.Counts()["group.create"] != 1 || res.Plan.Counts()["membership.add"] != 2 {
			t.Fatalf("next cycle: %s %v, want the group found", res.Run.Mode, res.Plan.Counts())
		}
	})
	t.Run("a direct user not found once", func(t *testing.T) {
		t.Parallel()
		h := MustMemoryHarness(t, glitchTenant(3), nil)
		h.cycle(t)
		h.srv.Assign(gid(4))
		h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", ID: gid(4), Status: 404, Times: 1})
		h.cycle(t)
		if res := h.cycle(t); res.Plan.Counts()["user.create"] != 1 {
			t.Fatalf("next cycle: %v, want the user created", res.Plan.Counts())
		}
	})
	t.Run("a short member page of a new group", func(t *testing.T) {
		t.Parallel()
		h := MustMemoryHarness(t, glitchTenant(3), nil)
		h.cycle(t)
		g := newGroup(h)
		h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", ID: g.ID, Body: `{"value":[]}`, Times: 1})
		res := h.cycle(t)
		// Refused by the member count: the same cycle reads in full.
		if res.Run.Mode != sync.ModeFull || !strings.Contains(res.Run.FullReason, "short of Graph's count") ||
			res.Plan.Counts()["membership.add"] != 2 {
			t.Fatalf("cycle: %s (%s) %v, want a full read adding both members", res.Run.Mode, res.Run.FullReason, res.Plan.Counts())
		}
		if res := h.fullCycle(t); !res.Plan.Empty() {
			t.Fatalf("a full cycle after: %v", res.Plan.Counts())
		}
	})
	t.Run("half a broken assignment round", func(t *testing.T) {
		t.Parallel()
		h := MustMemoryHarness(t, glitchTenant(3), nil)
		h.cycle(t)
		ep := h.srv.GraphEndpoint()
		page1 := `{"value":[{"@odata.type":"#microsoft.graph.appRoleAssignment","id":"phantom1","principalId":"` + gid(4) +
			`","principalType":"User","principalDisplayName":"User 4","resourceId":"` + spID + `"}],"@odata.nextLink":"` + ep + `/v1.0/directoryObjects/delta?$skiptoken=p2"}`
		page2 := `{"value":[{"@odata.type":"#microsoft.graph.somethingNew","id":"x"}],"@odata.deltaLink":"` + ep + `/v1.0/directoryObjects/delta?$deltatoken=z"}`
		h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/directoryObjects/delta", Body: page1, Times: 1})
		h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/directoryObjects/delta", Body: page2, Times: 1})
		if res := h.cycle(t); !res.Plan.Empty() {
			t.Fatalf("cycle: %v, want nothing (user 4 is not assigned)", res.Plan.Counts())
		}
	})
	t.Run("a settled plan's skips", func(t *testing.T) {
		t.Parallel()
		tn := glitchTenant(3)
		tn.Groups = append(tn.Groups, graphtest.Group{ID: gid(120), DisplayName: "All", GroupTypes: []string{"Unified"}, MailEnabled: true, Members: []string{gid(1)}})
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(120)})
		h := MustMemoryHarness(t, tn, nil)
		h.cycle(t)
		inc := h.cycleWith(t, sync.CycleOptions{Trigger: "test", DryRun: true})
		full := h.cycleWith(t, sync.CycleOptions{Trigger: "test", DryRun: true, Full: true})
		if fmt.Sprint(inc.Plan.Skipped) != fmt.Sprint(full.Plan.Skipped) || inc.Plan.InScope != full.Plan.InScope ||
			inc.Plan.ServicePrincipalAssignments != full.Plan.ServicePrincipalAssignments {
			t.Fatalf("settled plan %+v / %d, full %+v / %d", inc.Plan.Skipped, inc.Plan.InScope, full.Plan.Skipped, full.Plan.InScope)
		}
	})
	t.Run("a nested group a round adds", func(t *testing.T) {
		t.Parallel()
		tn := glitchTenant(3)
		tn.Groups = append(tn.Groups, secGroup(300, "Inner", gid(5)))
		h := MustMemoryHarness(t, tn, nil)
		h.cycle(t)
		h.srv.AddMember(gid(100), gid(300))
		if sk := skipped(h.cycle(t).Plan, sync.SkipNestedGroup, gid(300)); sk == nil || sk.Name != "Inner" {
			t.Fatalf("nested group skip: %+v, want it named Inner", sk)
		}
	})
}

// TestBadInput_DeltaTokensStayOutOfRunErrors: a delta page that times out
// fails the read with the URL named, its query (the token) cut off.
func TestBadInput_DeltaTokensStayOutOfRunErrors(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, glitchTenant(3), nil)
	tn := h.srv.Tenant()
	src, err := graph.New(graph.Config{TenantID: tn.TenantID, ClientID: tn.ClientID, ClientSecret: tn.ClientSecret,
		ServicePrincipalID: tn.Application.ID, GraphEndpoint: h.srv.GraphEndpoint(), LoginEndpoint: h.srv.LoginEndpoint(),
		Transport: h.srv.Client().Transport, MaxRetries: 1, RetryDelay: time.Millisecond, Timeout: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.src = src
	h.cycle(t)
	h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Delay: 2 * time.Second})
	if _, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{Trigger: "test"}); err == nil {
		t.Fatal("a timed-out delta page did not fail the read")
	}
	runs, _ := h.db.Runs(context.Background(), tenantName, 1)
	if len(runs) != 1 || !strings.Contains(runs[0].Error, "users/delta") || strings.Contains(strings.ToLower(runs[0].Error), "token=") {
		t.Fatalf("run error %q: want the endpoint named and no token", runs[0].Error)
	}
}

// TestC11_FullReadsProveWhatTheyAddToTheMirror: the member listings a full
// read adds go into the mirror, which incremental rounds only amend. A few
// are proven against their counts at once (a short one fails the read, C4);
// after a read that added members to many groups (a first cycle) the next
// cycle reads in full once more, which puts a short answer right.
func TestC11_FullReadsProveWhatTheyAddToTheMirror(t *testing.T) {
	t.Parallel()
	t.Run("a few groups: proven", func(t *testing.T) {
		t.Parallel()
		h := MustMemoryHarness(t, glitchTenant(3), nil)
		h.cycle(t)
		g := secGroup(200, "New", gid(4), gid(5))
		h.srv.SetGroup(g)
		h.srv.Assign(g.ID)
		h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", ID: g.ID, Body: `{"value":[]}`, Times: 1})
		_, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{Trigger: "test", Full: true})
		if err == nil || !errors.Is(err, sync.ErrListingShort) {
			t.Fatalf("full cycle over a short member page: %v, want it refused by the count", err)
		}
		if res := h.cycle(t); res.Plan.Counts()["membership.add"] != 2 {
			t.Fatalf("next cycle: %s %v, want both members added", res.Run.Mode, res.Plan.Counts())
		}
	})
	t.Run("many groups: read in full once more", func(t *testing.T) {
		t.Parallel()
		tn := glitchTenant(3)
		for i := 0; i < sync.MaxGainingProofs+2; i++ {
			g := secGroup(300+i, fmt.Sprintf("Team %d", i), gid(4), gid(5))
			tn.Groups = append(tn.Groups, g)
			tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: g.ID})
		}
		h := MustMemoryHarness(t, tn, nil)
		h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", ID: gid(300), Body: `{"value":[]}`, Times: 1})
		h.cycle(t)
		res := h.cycle(t)
		if res.Run.Mode != sync.ModeFull || !strings.Contains(res.Run.FullReason, "once more") || res.Plan.Counts()["membership.add"] != 2 {
			t.Fatalf("second cycle: %s (%s) %v, want a full read adding the two members", res.Run.Mode, res.Run.FullReason, res.Plan.Counts())
		}
		if res := h.cycle(t); res.Run.Mode != sync.ModeIncremental || !res.Plan.Empty() {
			t.Fatalf("third cycle: %s %v", res.Run.Mode, res.Plan.Counts())
		}
	})
}

// TestC9_AnAssigneeGraphNeverFindsKeepsCyclesSettled: a direct assignment
// to a user Graph does not know is looked up again every cycle, as a full
// read would, and while it stays unknown the cycle stays settled.
func TestC9_AnAssigneeGraphNeverFindsKeepsCyclesSettled(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, glitchTenant(3), nil)
	h.srv.Assign(gid(9999))
	// Graph keeps answering that it does not know the user.
	h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", ID: gid(9999), Status: 404})
	h.srv.SetUser(tuser(9999, true))
	h.cycle(t)
	loads := 0
	h.syncer = sync.NewSyncer(countingStore{h.db, &loads}, nil)
	for i := 0; i < 2; i++ {
		h.srv.ResetCounts()
		res := h.cycle(t)
		if loads != 0 || res.Run.Mode != sync.ModeIncremental || skipped(res.Plan, sync.SkipUser, gid(9999)) == nil {
			t.Fatalf("cycle %d: %d loads, %s, skipped %+v; want settled, the user still skipped", i, loads, res.Run.Mode, res.Plan.Skipped)
		}
		if n := h.srv.Requests()["GET /v1.0/users/{id}"]; n != 1 {
			t.Fatalf("cycle %d looked the user up %d times, want once", i, n)
		}
	}
}
