package storetest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// testStateOf: a scoped plan's load (sync.ScopedTx) returns exactly the
// users its scope names — by Entra id or e-mail key, whatever their origin,
// purged tombstones excepted — with their paths, and every group with its
// members among them (all members of the groups named whole), and the local
// members of the groups it names for that, and which of the users it only
// passes over have a provisioned row (an archived one too); Totals counts
// the whole directory as the archive guard counts a whole State.
func testStateOf(t *testing.T, dir store.Store) {
	ctx := context.Background()
	mustRegister(t, dir)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	users := []sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test"), user("c", "c@x.test"), user("d", "d@x.test"), user("e", "e@x.test")}
	cycle(t, dir, snapshot(users, []string{"a", "b", "c", "d", "e"}, secGroup("g1", "One", "a", "b", "c"), secGroup("g2", "Two", "c", "d")), now)
	// e and g2's d lose their paths: e archived, d still direct.
	cycle(t, dir, snapshot(users[:4], []string{"a", "b", "c", "d"}, secGroup("g1", "One", "a", "b", "c"), secGroup("g2", "Two", "c"),
		secGroup("g3", "Three", "a")), now.Add(time.Hour))
	scope := sync.StateScope{EntraIDs: []string{"b", "e", "nobody"}, EmailKeys: []string{"d@x.test", "free@x.test"}, Groups: []string{"g1", "g2"},
		MembersOf: []string{"g2"}, PassedOver: []string{"a", "e", "nobody"}}

	tx, full := mustBegin(t, ctx, dir, "t1")
	defer func() { _ = tx.Rollback() }()
	part, err := tx.(sync.ScopedTx).StateOf(ctx, scope)
	if err != nil {
		t.Fatalf("StateOf: %v", err)
	}
	totals, err := tx.(sync.ScopedTx).Totals(ctx)
	if err != nil {
		t.Fatalf("Totals: %v", err)
	}
	want := &sync.State{Tenant: full.Tenant, Partial: true, Provisioned: map[string]bool{}}
	wantTotals := sync.TotalsOf(full) // what the guard counts in the whole State
	loaded, membersOf := map[string]bool{}, map[string]bool{}
	for _, g := range full.Groups {
		if slices.Contains(scope.MembersOf, g.EntraID) {
			for _, m := range g.Members {
				membersOf[m] = true
			}
		}
	}
	for _, u := range full.Users {
		if u.Origin == sync.OriginProvisioned && slices.Contains(scope.PassedOver, u.EntraID) {
			want.Provisioned[u.EntraID] = true
		}
		if slices.Contains(scope.EntraIDs, u.EntraID) || slices.Contains(scope.EmailKeys, sync.EmailKey(u.Email)) || membersOf[u.EntraID] {
			want.Users = append(want.Users, u)
			loaded[u.EntraID] = true
		}
	}
	for _, g := range full.Groups {
		if !slices.Contains(scope.Groups, g.EntraID) {
			g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return !loaded[m] })
			if len(g.Members) == 0 {
				g.Members = nil
			}
		}
		want.Groups = append(want.Groups, g)
	}
	sortUsers := func(st *sync.State) {
		slices.SortFunc(st.Users, func(a, b sync.User) int { return int(a.ID - b.ID) })
	}
	sortUsers(want)
	sortUsers(part)
	w, _ := json.Marshal(want)
	g, _ := json.Marshal(part)
	if string(w) != string(g) {
		t.Fatalf("StateOf\n got %s\nwant %s", g, w)
	}
	if totals != wantTotals || len(part.Users) != 4 || len(part.Provisioned) != 2 || totals.Users != 4 || totals.Groups != 3 || totals.Memberships != 5 {
		t.Fatalf("StateOf loaded %d users, totals %+v (counted %+v); want b, c (g2's), d, e and 4 live users, 3 groups, 5 memberships",
			len(part.Users), totals, wantTotals)
	}
}
