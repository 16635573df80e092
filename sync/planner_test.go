package sync_test

// The planner's properties and the rules that need an apply between two
// plans, on synctest's in-memory directory: Diff, then Apply in the
// transaction whose State it planned, then Diff again.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// MustPlannerMemory returns a memory directory with tenant "t" (settings)
// holding users and then groups, as given.
func MustPlannerMemory(tb testing.TB, settings sync.TenantSettings, users []sync.User, groups []sync.Group) *synctest.Memory {
	tb.Helper()
	ctx := context.Background()
	m := synctest.NewMemory()
	if err := m.RegisterTenant(ctx, sync.Tenant{ID: "t", Settings: settings}); err != nil {
		tb.Fatal(err)
	}
	for _, u := range users {
		if _, err := m.AddUser(ctx, "t", u); err != nil {
			tb.Fatal(err)
		}
	}
	for _, g := range groups {
		if _, err := m.AddGroup(ctx, "t", g); err != nil {
			tb.Fatal(err)
		}
	}
	return m
}

// mustApply plans the tenant's state with plan and applies the plan in the
// same transaction; the directory must accept it.
func mustApply(tb testing.TB, m *synctest.Memory, plan func(st *sync.State) *sync.Plan) *sync.Plan {
	tb.Helper()
	p, err := synctest.Apply(context.Background(), m, "t", plan)
	if err != nil {
		tb.Fatalf("the directory refused the plan: %v", err)
	}
	return p
}

// diffOf is the plan of snap at now.
func diffOf(snap *sync.Snapshot, now time.Time) func(st *sync.State) *sync.Plan {
	return func(st *sync.State) *sync.Plan { return sync.Diff(snap, st, now) }
}

// stateOf reads the tenant's state, writing nothing.
func stateOf(tb testing.TB, m *synctest.Memory) *sync.State {
	tb.Helper()
	st, err := synctest.State(context.Background(), m, "t")
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func jsonOf(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// randomSnapshot builds a tenant picture with overlapping groups, nested and
// unsupported groups, disabled users and colliding e-mails.
func randomSnapshot(r *rand.Rand) *sync.Snapshot {
	s := &sync.Snapshot{Users: map[string]sync.EntraUser{}}
	nUsers := 1 + r.Intn(30)
	ids := make([]string, nUsers)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%02d", i)
		mail := fmt.Sprintf("u%d@x.test", i)
		if r.Intn(10) == 0 {
			mail = fmt.Sprintf("U%d@x.test", r.Intn(nUsers)) // may collide
		}
		if r.Intn(8) == 0 {
			mail = ""
		}
		s.Users[ids[i]] = sync.EntraUser{ID: ids[i], UserPrincipalName: ids[i] + "@x.test", Mail: mail,
			DisplayName: "n" + fmt.Sprint(r.Intn(3)), AccountEnabled: r.Intn(6) != 0}
	}
	for _, id := range ids {
		if r.Intn(3) == 0 {
			s.DirectUsers = append(s.DirectUsers, id)
		}
	}
	for g := 0; g < r.Intn(5); g++ {
		eg := sync.EntraGroup{ID: fmt.Sprintf("g%d", g), DisplayName: fmt.Sprintf("G%d-%d", g, r.Intn(2)), Found: r.Intn(8) != 0,
			SecurityEnabled: r.Intn(5) != 0}
		if r.Intn(6) == 0 {
			eg.GroupTypes = []string{"Unified"}
		}
		for _, id := range ids {
			if r.Intn(3) == 0 {
				eg.Members = append(eg.Members, id)
			}
		}
		if r.Intn(4) == 0 {
			eg.Nested = []sync.Ref{{ID: "nested", Name: "Nested"}}
		}
		s.Groups = append(s.Groups, eg)
	}
	// Users not reachable by any path are not in a real snapshot.
	reach := pathHolders(s)
	for id := range s.Users {
		if !reach[id] {
			delete(s.Users, id)
		}
	}
	return s
}

// pathHolders are the users with an assignment path in s: direct, or
// members of a supported group.
func pathHolders(s *sync.Snapshot) map[string]bool {
	ids := map[string]bool{}
	for _, id := range s.DirectUsers {
		ids[id] = true
	}
	for _, g := range s.Groups {
		if ok, _ := sync.GroupSupport(g); ok {
			for _, m := range g.Members {
				ids[m] = true
			}
		}
	}
	return ids
}

// randomManualUsers are up to three manual users whose e-mails may be those
// of users randomSnapshot makes (adoption, L9).
func randomManualUsers(r *rand.Rand) []sync.User {
	var users []sync.User
	for _, n := range r.Perm(30)[:r.Intn(4)] {
		users = append(users, sync.User{Origin: sync.OriginManual, Email: fmt.Sprintf("u%d@x.test", n), Status: sync.StatusActive})
	}
	return users
}

// randomMemory is a tenant with automatic invitation on or off and a few
// manual users.
func randomMemory(tb testing.TB, r *rand.Rand) *synctest.Memory {
	tb.Helper()
	s := sync.DefaultTenantSettings()
	s.AutoInvite = r.Intn(2) == 0
	return MustPlannerMemory(tb, s, randomManualUsers(r), nil)
}

// settle applies plans of snap until one is empty: without conflicts one
// apply reaches the fixpoint; a conflict whose holder moves away this cycle
// is retried and applies next cycle (L10), so chains settle within a few.
func settle(tb testing.TB, m *synctest.Memory, snap *sync.Snapshot, first *sync.Plan, what string) {
	tb.Helper()
	again := sync.Diff(snap, stateOf(tb, m), t0.Add(time.Hour))
	if len(first.Conflicts) == 0 && len(again.Changes) != 0 {
		tb.Fatalf("%s: re-plan after apply not empty: %+v", what, again.Changes)
	}
	for i := 0; len(again.Changes) > 0; i++ {
		if i == 5 {
			tb.Fatalf("%s: conflicts do not settle: %+v", what, again.Changes)
		}
		mustApply(tb, m, diffOf(snap, t0.Add(time.Hour)))
		again = sync.Diff(snap, stateOf(tb, m), t0.Add(time.Hour))
	}
}

// TestPlannerProperties checks, over many random tenants, that applying a
// plan and re-planning is empty (C9), that a plan never mutates its inputs,
// that a user with an enabled account and a path is never archived (S1,
// S5), and that no two live users share an e-mail (L10).
func TestPlannerProperties(t *testing.T) {
	for seed := int64(1); seed <= 400; seed++ {
		r := rand.New(rand.NewSource(seed))
		m := randomMemory(t, r)
		snap1, snap2 := randomSnapshot(r), randomSnapshot(r)
		// Two cycles: from the random state to snap1, then to snap2, so that
		// archives, restores and updates all occur.
		for step, snap := range []*sync.Snapshot{snap1, snap2, snap1} {
			what := fmt.Sprintf("seed %d step %d", seed, step)
			p := mustApply(t, m, func(st *sync.State) *sync.Plan {
				inSnap, inState := jsonOf(t, snap), jsonOf(t, st)
				p := sync.Diff(snap, st, t0)
				if jsonOf(t, snap) != inSnap || jsonOf(t, st) != inState {
					t.Fatalf("%s: Diff mutated its inputs", what)
				}
				return p
			})
			paths := pathHolders(snap)
			for _, ch := range p.Changes {
				if ch.Entity == sync.EntityUser && ch.Action == sync.ActionArchive && paths[ch.EntraID] && snap.Users[ch.EntraID].AccountEnabled {
					t.Fatalf("%s: user %s with a path archived", what, ch.EntraID)
				}
			}
			settle(t, m, snap, p, what)
			seen := map[string]bool{}
			for _, u := range stateOf(t, m).Users {
				k := sync.EmailKey(u.Email)
				if k != "" && seen[k] {
					t.Fatalf("%s: e-mail %q held twice", what, k)
				}
				seen[k] = true
			}
		}
	}
}

func FuzzDiff(f *testing.F) {
	for _, s := range []int64{1, 7, 42} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed int64) {
		r := rand.New(rand.NewSource(seed))
		m := randomMemory(t, r)
		mustApply(t, m, diffOf(randomSnapshot(r), t0))
		snap := randomSnapshot(r)
		p := mustApply(t, m, diffOf(snap, t0))
		if again := sync.Diff(snap, stateOf(t, m), t0); len(p.Conflicts) == 0 && len(again.Changes) != 0 {
			t.Fatalf("re-plan not empty: %+v", again.Changes)
		}
	})
}

func TestC9_PlanOfItsOwnStateIsEmpty(t *testing.T) {
	snap := randomSnapshot(rand.New(rand.NewSource(3)))
	m := MustPlannerMemory(t, sync.DefaultTenantSettings(), nil, nil)
	mustApply(t, m, diffOf(snap, t0))
	if p := sync.Diff(snap, stateOf(t, m), t0); !p.Empty() {
		t.Fatalf("plan of the state a snapshot produced is not empty: %+v", p.Changes)
	}
}

func TestL10_EmailSwapAppliesAtOnce(t *testing.T) {
	user := func(e, mail string) sync.User {
		return sync.User{EntraID: e, Origin: sync.OriginProvisioned, Email: mail, Mail: mail, UserPrincipalName: e + "@upn", Status: sync.StatusStaged,
			Paths: []string{"direct"}, AccountEnabled: true}
	}
	m := MustPlannerMemory(t, sync.DefaultTenantSettings(), []sync.User{user("a", "a@x"), user("b", "b@x"), user("c", "c@x"), user("k", "k@x")}, nil)
	snap := &sync.Snapshot{DirectUsers: []string{"a", "b", "c", "k", "n"}, Users: map[string]sync.EntraUser{
		"a": {ID: "a", UserPrincipalName: "a@upn", Mail: "b@x", AccountEnabled: true}, // a ↔ b swap
		"b": {ID: "b", UserPrincipalName: "b@upn", Mail: "a@x", AccountEnabled: true},
		"c": {ID: "c", UserPrincipalName: "c@upn", Mail: "k@x", AccountEnabled: true}, // k keeps k@x: conflict
		"k": {ID: "k", UserPrincipalName: "k@upn", Mail: "k@x", AccountEnabled: true},
		"n": {ID: "n", UserPrincipalName: "n@upn", Mail: "c@x", AccountEnabled: true}, // waits on c, which is held back
	}}
	p := mustApply(t, m, diffOf(snap, t0)) // the swap applies in one transaction
	if c := p.Counts(); c["user.update"] != 2 || c["conflict"] != 2 {
		t.Fatalf("plan = %v %+v, want the swap applied and c, n held back", c, p.Conflicts)
	}
	after := stateOf(t, m)
	got := map[string]string{}
	for _, u := range after.Users {
		got[u.EntraID] = u.Email
	}
	if got["a"] != "b@x" || got["b"] != "a@x" || got["c"] != "c@x" {
		t.Fatalf("after = %v", got)
	}
	if again := sync.Diff(snap, after, t0); len(again.Changes) != 0 {
		t.Fatalf("re-plan after the swap: %+v", again.Changes)
	}
}

// TestS6_ReconnectAdoptsByObjectID: after a disconnect users and groups are
// manual but keep their Entra ids; a cycle adopts them back, creating nothing.
func TestS6_ReconnectAdoptsByObjectID(t *testing.T) {
	m := MustPlannerMemory(t, sync.DefaultTenantSettings(),
		[]sync.User{{EntraID: "a", Origin: sync.OriginManual, Email: "a@x.test", UserPrincipalName: "a@x.test", Status: sync.StatusActive,
			AccountEnabled: true, Paths: []string{"group:g"}}},
		[]sync.Group{{EntraID: "g", Origin: sync.OriginManual, DisplayName: "G", Members: []string{"a"}}})
	before := stateOf(t, m)
	snap := &sync.Snapshot{Users: map[string]sync.EntraUser{"a": {ID: "a", UserPrincipalName: "a@x.test", Mail: "a@x.test", AccountEnabled: true}},
		Groups: []sync.EntraGroup{{ID: "g", DisplayName: "G", SecurityEnabled: true, Found: true, Members: []string{"a"}}}}
	p := mustApply(t, m, diffOf(snap, t0))
	if c := p.Counts(); len(c) != 2 || c["user.adopt"] != 1 || c["group.adopt"] != 1 {
		t.Fatalf("reconnect plan = %v, want one user and one group adopted", c)
	}
	after := stateOf(t, m)
	if u := after.Users[0]; u.Origin != sync.OriginProvisioned || u.Status != sync.StatusActive || u.ID != before.Users[0].ID {
		t.Fatalf("adopted user = %+v", u)
	}
	if g := after.Groups[0]; g.Origin != sync.OriginProvisioned || len(g.Members) != 1 {
		t.Fatalf("adopted group = %+v", g)
	}
	// A manual group that keeps an Entra id but is no longer assigned is
	// the administrator's: never archived.
	for _, ch := range sync.Diff(&sync.Snapshot{Users: map[string]sync.EntraUser{}}, before, t0).Changes {
		if ch.Entity == sync.EntityGroup {
			t.Fatalf("manual group changed: %+v", ch)
		}
	}
}

// TestS1_DisabledAssignedUserIsListedAsSkipped: a directly assigned user
// whose account is disabled is not provisioned (S1), and the plan says so
// instead of leaving them out without a word.
func TestS1_DisabledAssignedUserIsListedAsSkipped(t *testing.T) {
	snap := &sync.Snapshot{Users: map[string]sync.EntraUser{
		"u1": {ID: "u1", UserPrincipalName: "off@contoso.test", Mail: "off@contoso.test", AccountEnabled: false},
	}, DirectUsers: []string{"u1"}}
	plan := sync.Diff(snap, &sync.State{Tenant: sync.Tenant{ID: "t", Settings: sync.DefaultTenantSettings()}}, time.Now())
	if len(plan.Changes) != 0 {
		t.Fatalf("a disabled user was planned: %+v", plan.Changes)
	}
	if len(plan.Skipped) != 1 || plan.Skipped[0].Kind != sync.SkipUser || plan.Skipped[0].Name != "off@contoso.test" ||
		!strings.Contains(plan.Skipped[0].Reason, "account disabled") {
		t.Fatalf("skipped = %+v, want the disabled user with its reason", plan.Skipped)
	}
}
