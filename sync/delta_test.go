package sync_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/store/storetest"
	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

// Incremental cycles (docs/behaviour.md C12) against the simulated tenant
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

// TestC12_IncrementalEqualsFull applies random sequences of tenant
// changes; after each round one directory runs an incremental cycle and a
// twin a full one, and the two must agree, change for change; at the end a
// full cycle of the incremental directory finds nothing to change. On both
// backends, with assignment changes served and not.
func TestC12_IncrementalEqualsFull(t *testing.T) {
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
		if ri.Run.Mode != wantMode {
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

