package sync

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// applyInMemory applies a plan to a state the way a store does, assigning ids.
func applyInMemory(st *State, p *Plan) *State {
	out := &State{Tenant: st.Tenant}
	users := map[string]*User{}
	var order []*User
	nextID := int64(1)
	for i := range st.Users {
		u := cloneUser(&st.Users[i])
		order = append(order, u)
		if u.ID >= nextID {
			nextID = u.ID + 1
		}
		if u.EntraID != "" {
			users[u.EntraID] = u
		}
	}
	byID := map[int64]*User{}
	for _, u := range order {
		byID[u.ID] = u
	}
	groups := map[string]*Group{}
	var gorder []*Group
	for i := range st.Groups {
		g := cloneGroup(&st.Groups[i])
		gorder = append(gorder, g)
		groups[g.EntraID] = g
	}
	for _, ch := range p.Changes {
		switch ch.Entity {
		case EntityUser:
			if ch.Action == ActionCreate {
				u := cloneUser(ch.After)
				u.ID = nextID
				nextID++
				order = append(order, u)
				users[u.EntraID] = u
				continue
			}
			u := byID[ch.Before.ID]
			id, ra := u.ID, u.RequireMobileAuth
			*u = *cloneUser(ch.After)
			u.ID, u.RequireMobileAuth = id, ra
			users[u.EntraID] = u
		case EntityGroup:
			if ch.Action == ActionCreate {
				g := cloneGroup(ch.GroupAfter)
				gorder = append(gorder, g)
				groups[g.EntraID] = g
				continue
			}
			g := groups[ch.EntraID]
			g.DisplayName, g.ArchivedAt, g.ArchiveReason = ch.GroupAfter.DisplayName, ch.GroupAfter.ArchivedAt, ch.GroupAfter.ArchiveReason
			if g.Archived() {
				g.Members = nil
			}
		}
	}
	for _, ch := range p.Changes {
		if ch.Entity != EntityMembership {
			continue
		}
		g := groups[ch.GroupEntraID]
		if ch.Action == ActionAdd {
			g.Members = append(g.Members, ch.EntraID)
		} else {
			g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == ch.EntraID })
		}
		slices.Sort(g.Members)
	}
	for _, u := range order {
		out.Users = append(out.Users, *u)
	}
	for _, g := range gorder {
		out.Groups = append(out.Groups, *g)
	}
	return out
}

// randomSnapshot builds a tenant picture with overlapping groups, nested and
// unsupported groups, disabled users and colliding e-mails.
func randomSnapshot(r *rand.Rand) *Snapshot {
	s := &Snapshot{Users: map[string]EntraUser{}}
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
		s.Users[ids[i]] = EntraUser{ID: ids[i], UserPrincipalName: ids[i] + "@x.test", Mail: mail,
			DisplayName: "n" + fmt.Sprint(r.Intn(3)), AccountEnabled: r.Intn(6) != 0}
	}
	for _, id := range ids {
		if r.Intn(3) == 0 {
			s.DirectUsers = append(s.DirectUsers, id)
		}
	}
	for g := 0; g < r.Intn(5); g++ {
		eg := EntraGroup{ID: fmt.Sprintf("g%d", g), DisplayName: fmt.Sprintf("G%d-%d", g, r.Intn(2)), Found: r.Intn(8) != 0,
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
			eg.Nested = []Ref{{ID: "nested", Name: "Nested"}}
		}
		s.Groups = append(s.Groups, eg)
	}
	// Users not reachable by any path are not in a real snapshot.
	reach := map[string]bool{}
	for _, id := range s.DirectUsers {
		reach[id] = true
	}
	for _, g := range s.Groups {
		if ok, _ := GroupSupport(g); ok {
			for _, m := range g.Members {
				reach[m] = true
			}
		}
	}
	for id := range s.Users {
		if !reach[id] {
			delete(s.Users, id)
		}
	}
	return s
}

func randomState(r *rand.Rand) *State {
	st := &State{Tenant: Tenant{ID: "t", Settings: DefaultTenantSettings()}}
	st.Tenant.Settings.AutoInvite = r.Intn(2) == 0
	for i, n := range r.Perm(30)[:r.Intn(4)] {
		st.Users = append(st.Users, User{ID: int64(1000 + i), Origin: OriginManual, Email: fmt.Sprintf("u%d@x.test", n), Status: StatusActive})
	}
	return st
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestPlannerProperties checks, over many random tenants, that applying a plan
// and re-planning is empty, that a plan never mutates its inputs, and that a
// user with an enabled account and a path is never archived.
func TestPlannerProperties(t *testing.T) {
	for seed := int64(1); seed <= 400; seed++ {
		r := rand.New(rand.NewSource(seed))
		st := randomState(r)
		snap1, snap2 := randomSnapshot(r), randomSnapshot(r)
		// Two cycles: from the random state to snap1, then to snap2, so that
		// archives, restores and updates all occur.
		for step, snap := range []*Snapshot{snap1, snap2, snap1} {
			inSnap, inState := mustJSON(t, snap), mustJSON(t, st)
			p := Diff(snap, st, t0)
			if mustJSON(t, snap) != inSnap || mustJSON(t, st) != inState {
				t.Fatalf("seed %d step %d: Diff mutated its inputs", seed, step)
			}
			paths := map[string]bool{}
			for _, id := range snap.DirectUsers {
				paths[id] = true
			}
			for _, g := range snap.Groups {
				if ok, _ := GroupSupport(g); ok {
					for _, m := range g.Members {
						paths[m] = true
					}
				}
			}
			for _, ch := range p.Changes {
				if ch.Entity == EntityUser && ch.Action == ActionArchive && paths[ch.EntraID] && snap.Users[ch.EntraID].AccountEnabled {
					t.Fatalf("seed %d step %d: user %s with a path archived", seed, step, ch.EntraID)
				}
			}
			st = applyInMemory(st, p)
			// Without conflicts one apply reaches the fixpoint. A conflict
			// whose holder moves away this cycle is retried and applies next
			// cycle (L10), so chains settle within a few cycles.
			again := Diff(snap, st, t0.Add(time.Hour))
			if len(p.Conflicts) == 0 && len(again.Changes) != 0 {
				t.Fatalf("seed %d step %d: re-plan after apply not empty: %+v", seed, step, again.Changes)
			}
			for i := 0; len(again.Changes) > 0; i++ {
				if i == 5 {
					t.Fatalf("seed %d step %d: conflicts do not settle: %+v", seed, step, again.Changes)
				}
				st = applyInMemory(st, again)
				again = Diff(snap, st, t0.Add(time.Hour))
			}
			// L10: no two live users share an e-mail key.
			seen := map[string]bool{}
			for _, u := range st.Users {
				k := EmailKey(u.Email)
				if k != "" && seen[k] {
					t.Fatalf("seed %d step %d: e-mail %q held twice", seed, step, k)
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
		st := applyInMemory(randomState(r), Diff(randomSnapshot(r), randomState(r), t0))
		snap := randomSnapshot(r)
		p := Diff(snap, st, t0)
		if again := Diff(snap, applyInMemory(st, p), t0); len(p.Conflicts) == 0 && len(again.Changes) != 0 {
			t.Fatalf("re-plan not empty: %+v", again.Changes)
		}
	})
}

func TestC9_PlanOfItsOwnStateIsEmpty(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	snap := randomSnapshot(r)
	st := applyInMemory(&State{Tenant: Tenant{ID: "t", Settings: DefaultTenantSettings()}}, Diff(snap, &State{Tenant: Tenant{ID: "t"}}, t0))
	if p := Diff(snap, st, t0); !p.Empty() {
		t.Fatalf("plan of the state a snapshot produced is not empty: %+v", p.Changes)
	}
}

func TestL10_EmailSwapAppliesAtOnce(t *testing.T) {
	user := func(id int64, e, mail string) User {
		return User{ID: id, EntraID: e, Origin: OriginProvisioned, Email: mail, Mail: mail, UserPrincipalName: e + "@upn", Status: StatusStaged,
			Paths: []string{"direct"}, AccountEnabled: true}
	}
	st := &State{Tenant: Tenant{ID: "t", Settings: DefaultTenantSettings()}, Users: []User{
		user(1, "a", "a@x"), user(2, "b", "b@x"), user(3, "c", "c@x"), user(4, "k", "k@x"),
	}}
	snap := &Snapshot{DirectUsers: []string{"a", "b", "c", "k", "n"}, Users: map[string]EntraUser{
		"a": {ID: "a", UserPrincipalName: "a@upn", Mail: "b@x", AccountEnabled: true}, // a ↔ b swap
		"b": {ID: "b", UserPrincipalName: "b@upn", Mail: "a@x", AccountEnabled: true},
		"c": {ID: "c", UserPrincipalName: "c@upn", Mail: "k@x", AccountEnabled: true}, // k keeps k@x: conflict
		"k": {ID: "k", UserPrincipalName: "k@upn", Mail: "k@x", AccountEnabled: true},
		"n": {ID: "n", UserPrincipalName: "n@upn", Mail: "c@x", AccountEnabled: true}, // waits on c, which is held back
	}}
	p := Diff(snap, st, t0)
	if c := p.Counts(); c["user.update"] != 2 || c["conflict"] != 2 {
		t.Fatalf("plan = %v %+v, want the swap applied and c, n held back", c, p.Conflicts)
	}
	after := applyInMemory(st, p)
	got := map[string]string{}
	for _, u := range after.Users {
		got[u.EntraID] = u.Email
	}
	if got["a"] != "b@x" || got["b"] != "a@x" || got["c"] != "c@x" {
		t.Fatalf("after = %v", got)
	}
	if again := Diff(snap, after, t0); len(again.Changes) != 0 {
		t.Fatalf("re-plan after the swap: %+v", again.Changes)
	}
}

func TestL9_AdoptionOfManualUser(t *testing.T) {
	st := &State{Tenant: Tenant{ID: "t", Settings: DefaultTenantSettings()}, Users: []User{
		{ID: 7, Origin: OriginManual, Email: "Ann@X.test", Status: StatusActive},
	}}
	snap := &Snapshot{DirectUsers: []string{"a"}, Users: map[string]EntraUser{"a": {ID: "a", UserPrincipalName: "ann@x.test", AccountEnabled: true}}}
	p := Diff(snap, st, t0)
	if len(p.Changes) != 1 || p.Changes[0].Action != ActionAdopt || p.Changes[0].Before.ID != 7 || p.Changes[0].After.Status != StatusActive {
		t.Fatalf("plan = %+v, want the manual user adopted with its status", p.Changes)
	}
}

// TestRenderGolden pins the rendered plan (regenerate with -update).
func TestRenderGolden(t *testing.T) {
	archived := t0.Add(-time.Hour)
	st := &State{Tenant: Tenant{ID: "acme", Settings: DefaultTenantSettings()},
		Users: []User{
			{ID: 1, EntraID: "u1", Origin: OriginProvisioned, UserPrincipalName: "ann@acme.test", Mail: "ann@acme.test", Email: "ann@acme.test", DisplayName: "Ann", AccountEnabled: true, Status: StatusActive, Paths: []string{"direct"}},
			{ID: 2, EntraID: "u2", Origin: OriginProvisioned, UserPrincipalName: "bo@acme.test", Email: "bo@acme.test", DisplayName: "Bo", AccountEnabled: true, Status: StatusArchived, PreviousStatus: StatusInvited, ArchivedAt: &archived, ArchiveReason: "no assignment path left"},
			{ID: 3, EntraID: "u3", Origin: OriginProvisioned, UserPrincipalName: "cy@acme.test", Email: "cy@acme.test", DisplayName: "Cy", AccountEnabled: true, Status: StatusStaged, Paths: []string{"group:g1"}},
			{ID: 4, Origin: OriginManual, Email: "dee@acme.test", Status: StatusActive},
		},
		Groups: []Group{{ID: 1, EntraID: "g1", Origin: OriginProvisioned, DisplayName: "Staff", Members: []string{"u3"}}},
	}
	snap := &Snapshot{
		DirectUsers: []string{"u1", "u2", "u5"},
		Users: map[string]EntraUser{
			"u1": {ID: "u1", UserPrincipalName: "ann@acme.test", Mail: "ann.new@acme.test", DisplayName: "Ann", AccountEnabled: true},
			"u2": {ID: "u2", UserPrincipalName: "bo@acme.test", DisplayName: "Bo", AccountEnabled: true},
			"u4": {ID: "u4", UserPrincipalName: "eve@acme.test", DisplayName: "Eve", AccountEnabled: true},
			"u5": {ID: "u5", UserPrincipalName: "fay@acme.test", Mail: "ANN.NEW@acme.test", DisplayName: "Fay", AccountEnabled: true},
		},
		Groups: []EntraGroup{
			{ID: "g1", DisplayName: "All Staff", SecurityEnabled: true, Found: true, Members: []string{"u4"}, Nested: []Ref{{ID: "g9", Name: "Interns"}}},
			{ID: "g2", DisplayName: "Everyone", SecurityEnabled: true, MailEnabled: true, GroupTypes: []string{"Unified"}, Found: true},
		},
		ServicePrincipalAssignments: 1,
	}
	p := Diff(snap, st, t0)
	var buf bytes.Buffer
	if err := p.Render(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "plan.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./sync -run TestRenderGolden -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("rendered plan differs from %s:\n%s", golden, buf.String())
	}
	var round Plan
	if err := json.Unmarshal([]byte(mustJSON(t, p)), &round); err != nil || !reflect.DeepEqual(round.Counts(), p.Counts()) {
		t.Fatalf("plan JSON does not round-trip: %v", err)
	}
}

// TestS6_ReconnectAdoptsByObjectID: after a disconnect users and groups are
// manual but keep their Entra ids; a cycle adopts them back, creating nothing.
func TestS6_ReconnectAdoptsByObjectID(t *testing.T) {
	st := &State{Tenant: Tenant{ID: "t", Settings: DefaultTenantSettings()},
		Users: []User{{ID: 7, EntraID: "a", Origin: OriginManual, Email: "a@x.test", UserPrincipalName: "a@x.test", Status: StatusActive,
			AccountEnabled: true, Paths: []string{"group:g"}}},
		Groups: []Group{{ID: 3, EntraID: "g", Origin: OriginManual, DisplayName: "G", Members: []string{"a"}}},
	}
	snap := &Snapshot{Users: map[string]EntraUser{"a": {ID: "a", UserPrincipalName: "a@x.test", Mail: "a@x.test", AccountEnabled: true}},
		Groups: []EntraGroup{{ID: "g", DisplayName: "G", SecurityEnabled: true, Found: true, Members: []string{"a"}}}}
	p := Diff(snap, st, t0)
	if c := p.Counts(); len(c) != 2 || c["user.adopt"] != 1 || c["group.adopt"] != 1 {
		t.Fatalf("reconnect plan = %v, want one user and one group adopted", c)
	}
	after := applyInMemory(st, p)
	if after.Users[0].Origin != OriginProvisioned || after.Users[0].Status != StatusActive || after.Users[0].ID != 7 {
		t.Fatalf("adopted user = %+v", after.Users[0])
	}
	// A manual group that keeps an Entra id but is no longer assigned is
	// the administrator's: never archived.
	p = Diff(&Snapshot{Users: map[string]EntraUser{}}, st, t0)
	for _, ch := range p.Changes {
		if ch.Entity == EntityGroup {
			t.Fatalf("manual group changed: %+v", ch)
		}
	}
}

// TestL10_DroppedConflictDoesNotBreakLabels: a conflicted adoption of a
// detached member is dropped; labelling the membership changes that follow
// must not use its stale index (it once panicked).
func TestL10_DroppedConflictDoesNotBreakLabels(t *testing.T) {
	st := &State{Tenant: Tenant{ID: "t", Settings: DefaultTenantSettings()},
		Users: []User{
			{ID: 1, EntraID: "b", Origin: OriginProvisioned, Email: "taken@x.test", UserPrincipalName: "b@x.test", Status: StatusStaged, AccountEnabled: true, Paths: []string{"direct"}},
			{ID: 2, EntraID: "d", Origin: OriginManual, Email: "d@x.test", UserPrincipalName: "d@x.test", Status: StatusActive, AccountEnabled: true, Paths: []string{"group:g"}},
		},
		Groups: []Group{{ID: 3, EntraID: "g", Origin: OriginManual, DisplayName: "G", Members: []string{"d"}}},
	}
	snap := &Snapshot{DirectUsers: []string{"a", "b"}, Users: map[string]EntraUser{
		"a": {ID: "a", UserPrincipalName: "a@x.test", Mail: "TAKEN@x.test", AccountEnabled: true},
		"b": {ID: "b", UserPrincipalName: "b@x.test", Mail: "taken@x.test", AccountEnabled: true},
		"d": {ID: "d", UserPrincipalName: "d@x.test", Mail: "taken@x.test", AccountEnabled: true},
	}, Groups: []EntraGroup{{ID: "g", DisplayName: "G", SecurityEnabled: true, Found: true, Members: []string{"d"}}}}
	p := Diff(snap, st, t0)
	if len(p.Conflicts) != 2 {
		t.Fatalf("conflicts = %+v, want a and d", p.Conflicts)
	}
	for _, ch := range p.Changes {
		if ch.Entity == EntityMembership && !strings.HasPrefix(ch.Label, "d@x.test") {
			t.Fatalf("membership change labelled %q", ch.Label)
		}
	}
}
