package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

// TestC11_ScopedPlanEqualsFullPlan: over random tenants brought up to date
// with one picture, or with two in turn (no conflict left, so the directory
// is what planning the last made of it; a history leaves what a picture
// does not carry, such as the local members of a group Graph did not find),
// then a random change of that picture, the scoped plan — only the part of
// the directory the change reaches loaded and planned — is the plan a full
// one makes: the same changes in the same order, conflicts, skips, users in
// scope, and what the archive guard holds and why.
func TestC11_ScopedPlanEqualsFullPlan(t *testing.T) {
	compared, scopedUsers, allUsers := 0, 0, 0
	for seed := int64(1); seed <= 3000; seed++ {
		r := rand.New(rand.NewSource(seed))
		settings := sync.DefaultTenantSettings()
		settings.AutoInvite = r.Intn(2) == 0
		if r.Intn(4) == 0 {
			settings.EmailSource = sync.EmailFromUPN
		}
		if r.Intn(3) == 0 { // a guard that trips on small tenants
			settings.ArchiveThreshold, settings.GroupArchiveThreshold, settings.MembershipRemovalThreshold = 1+r.Intn(3), 1, 1+r.Intn(4)
		}
		m := MustPlannerMemory(t, settings, randomManualUsers(r), nil)
		history := []*sync.Snapshot{randomSnapshot(r)}
		if r.Intn(2) == 0 {
			history = append(history, mutateSnapshot(r, history[0]))
		}
		clean := true
		for _, s := range history {
			for i := 0; ; i++ {
				if p := mustApply(t, m, diffOf(s, t0)); p.Empty() || i == 5 {
					break
				}
			}
			if p := sync.Diff(s, stateOf(t, m), t0); !p.Empty() || len(p.Conflicts) > 0 {
				clean = false
			}
		}
		if !clean {
			continue // a cycle would plan in full
		}
		before := history[len(history)-1]
		after := mutateSnapshot(r, before)
		changed := sync.ChangedBetween(before, after)
		what := fmt.Sprintf("seed %d", seed)

		full := stateOf(t, m)
		want := sync.Diff(after, full, t0.Add(time.Hour))
		sync.Guard(want, full, nil)

		scope, ok := sync.ScopeOf(after, changed, full.Tenant.Settings)
		if !ok {
			t.Fatalf("%s: scope refused for a small tenant", what)
		}
		part := scopedState(t, m, scope)
		got, ok := sync.DiffScoped(after, part, scope, t0.Add(time.Hour))
		if !ok {
			t.Fatalf("%s: the scoped plan reached beyond its scope (changed %v)", what, changed)
		}
		if sync.NeedsTotals(got) {
			part.Totals = scopedTotals(t, m)
		}
		sync.Guard(got, part, nil)
		if w, g := planJSON(t, want), planJSON(t, got); w != g {
			t.Fatalf("%s: scoped plan differs from the full plan\nchanged: %v\nfull:   %s\nscoped: %s", what, changed, w, g)
		}
		compared++
		scopedUsers += len(part.Users)
		allUsers += len(full.Users)
	}
	if compared < 2000 {
		t.Fatalf("only %d tenants compared", compared)
	}
	t.Logf("%d tenants compared; the scoped plans loaded %d of %d users", compared, scopedUsers, allUsers)
}

// planJSON is everything a plan says, for comparison (no changes is no
// changes, whether the slice was allocated or not).
func planJSON(tb testing.TB, p *sync.Plan) string {
	tb.Helper()
	if len(p.Changes) == 0 {
		c := *p
		c.Changes = nil
		p = &c
	}
	b, err := json.Marshal(p)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// scopedTx runs fn in a transaction on the tenant's directory, rolled back.
func scopedTx(tb testing.TB, m *synctest.Memory, fn func(ctx context.Context, tx sync.ScopedTx) error) {
	tb.Helper()
	ctx := context.Background()
	tx, err := m.Begin(ctx, "t")
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(ctx, tx.(sync.ScopedTx)); err != nil {
		tb.Fatal(err)
	}
}

func scopedState(tb testing.TB, m *synctest.Memory, scope sync.StateScope) (st *sync.State) {
	scopedTx(tb, m, func(ctx context.Context, tx sync.ScopedTx) (err error) {
		st, err = tx.StateOf(ctx, scope)
		return err
	})
	return st
}

func scopedTotals(tb testing.TB, m *synctest.Memory) *sync.Totals {
	var n sync.Totals
	scopedTx(tb, m, func(ctx context.Context, tx sync.ScopedTx) (err error) {
		n, err = tx.Totals(ctx)
		return err
	})
	return &n
}

// mutateSnapshot returns a copy of s with a few random changes, as Graph
// would show them a cycle later: attributes, accounts enabled or disabled,
// users deleted or not found, direct assignments, members joining and
// leaving, groups renamed, made unsupported, not found, unassigned and
// assigned; now and then a wholly new picture.
func mutateSnapshot(r *rand.Rand, s *sync.Snapshot) *sync.Snapshot {
	if r.Intn(15) == 0 {
		return randomSnapshot(r)
	}
	var c sync.Snapshot
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, &c)
	if c.Users == nil {
		c.Users = map[string]sync.EntraUser{}
	}
	ids := make([]string, 0, len(c.Users)+5)
	for id := range c.Users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i := 0; i < 3; i++ { // users that may come in
		id := fmt.Sprintf("n%d", r.Intn(40))
		if _, ok := c.Users[id]; !ok {
			c.Users[id] = sync.EntraUser{ID: id, UserPrincipalName: id + "@x.test", Mail: fmt.Sprintf("u%d@x.test", r.Intn(40)),
				AccountEnabled: r.Intn(5) != 0}
			ids = append(ids, id)
		}
	}
	pick := func() string { return ids[r.Intn(len(ids))] }
	for n := 1 + r.Intn(4); n > 0; n-- {
		id := pick()
		u := c.Users[id]
		switch r.Intn(12) {
		case 0:
			u.DisplayName += "'"
		case 1:
			u.Mail = fmt.Sprintf("u%d@x.test", r.Intn(40)) // may collide, or match a manual user
		case 2:
			u.AccountEnabled = !u.AccountEnabled
		case 3:
			u.UserPrincipalName = "r" + u.UserPrincipalName
		case 4: // deleted in Entra: gone from everything
			delete(c.Users, id)
			c.DirectUsers = slices.DeleteFunc(c.DirectUsers, func(d string) bool { return d == id })
			for i := range c.Groups {
				c.Groups[i].Members = slices.DeleteFunc(c.Groups[i].Members, func(d string) bool { return d == id })
			}
			continue
		case 5: // assigned, but not found this time
			delete(c.Users, id)
			if !slices.Contains(c.DirectUsers, id) {
				c.DirectUsers = append(c.DirectUsers, id)
			}
			continue
		case 6:
			if i := slices.Index(c.DirectUsers, id); i >= 0 {
				c.DirectUsers = slices.Delete(c.DirectUsers, i, i+1)
			} else {
				c.DirectUsers = append(c.DirectUsers, id)
			}
		case 7, 8:
			if len(c.Groups) > 0 {
				g := &c.Groups[r.Intn(len(c.Groups))]
				if i := slices.Index(g.Members, id); i >= 0 {
					g.Members = slices.Delete(g.Members, i, i+1)
				} else {
					g.Members = append(g.Members, id)
				}
			}
		case 9:
			if len(c.Groups) > 0 {
				g := &c.Groups[r.Intn(len(c.Groups))]
				switch r.Intn(5) {
				case 0:
					g.DisplayName += "*"
				case 1:
					g.SecurityEnabled = !g.SecurityEnabled
				case 2:
					g.Found = !g.Found
					if !g.Found {
						g.Members = nil
					}
				case 3:
					g.Nested = append(g.Nested, sync.Ref{ID: "nested2", Name: "Nested 2"})
				case 4:
					g.GroupTypes = []string{"Unified"}
				}
			}
		case 10:
			if len(c.Groups) > 0 {
				i := r.Intn(len(c.Groups))
				c.Groups = slices.Delete(c.Groups, i, i+1) // unassigned
			}
		case 11:
			g := sync.EntraGroup{ID: fmt.Sprintf("g%d", 10+r.Intn(5)), DisplayName: "New", Found: true, SecurityEnabled: true}
			for _, m := range ids {
				if r.Intn(3) == 0 {
					g.Members = append(g.Members, m)
				}
			}
			if !slices.ContainsFunc(c.Groups, func(o sync.EntraGroup) bool { return o.ID == g.ID }) {
				c.Groups = append(c.Groups, g)
			}
		}
		if _, ok := c.Users[id]; ok {
			c.Users[id] = u
		}
	}
	// A real picture holds only the users with a path.
	reach := pathHolders(&c)
	for id := range c.Users {
		if !reach[id] {
			delete(c.Users, id)
		}
	}
	return &c
}

// TestC11_ScopedPlanOfAGroupGraphDidNotFind: a group Graph did not find is
// left as it is, and its local members keep their path through it from the
// directory, though no picture lists them. When it is found again without
// one of them, unassigned, or found again but unsupported, the scoped plan
// reaches those members as the full plan does.
func TestC11_ScopedPlanOfAGroupGraphDidNotFind(t *testing.T) {
	user := func(id string) sync.EntraUser {
		return sync.EntraUser{ID: id, UserPrincipalName: id + "@x.test", Mail: id + "@x.test", DisplayName: id, AccountEnabled: true}
	}
	g := func(found bool, members ...string) sync.EntraGroup {
		return sync.EntraGroup{ID: "g1", DisplayName: "G1", Found: found, SecurityEnabled: true, Members: members}
	}
	snap := func(groups []sync.EntraGroup, users ...sync.EntraUser) *sync.Snapshot {
		s := &sync.Snapshot{Users: map[string]sync.EntraUser{}, DirectUsers: []string{"d"}, AssignmentsListed: 1 + len(groups), Groups: groups}
		for _, u := range users {
			s.Users[u.ID] = u
		}
		return s
	}
	d, u1, u2, u3 := user("d"), user("u1"), user("u2"), user("u3")
	// Found with u1 and u2 (their only path), then not found: kept as they are.
	history := []*sync.Snapshot{snap([]sync.EntraGroup{g(true, "u1", "u2")}, d, u1, u2), snap([]sync.EntraGroup{g(false)}, d)}
	unsupported := g(true)
	unsupported.SecurityEnabled = false
	for name, after := range map[string]*sync.Snapshot{
		"found again without u1":       snap([]sync.EntraGroup{g(true, "u2", "u3")}, d, u2, u3),
		"unassigned":                   snap(nil, d),
		"found again, now unsupported": snap([]sync.EntraGroup{unsupported}, d),
	} {
		t.Run(name, func(t *testing.T) {
			m := MustPlannerMemory(t, sync.DefaultTenantSettings(), nil, nil)
			for _, s := range history {
				mustApply(t, m, diffOf(s, t0))
			}
			full := stateOf(t, m)
			want := sync.Diff(after, full, t0.Add(time.Hour))
			sync.Guard(want, full, nil)
			if want.Counts()["user.archive"] == 0 && want.Counts()["membership.remove"] == 0 {
				t.Fatalf("the full plan %v reaches no local member: the case tests nothing", want.Counts())
			}
			scope, _ := sync.ScopeOf(after, sync.ChangedBetween(history[1], after), full.Tenant.Settings)
			part := scopedState(t, m, scope)
			got, ok := sync.DiffScoped(after, part, scope, t0.Add(time.Hour))
			if !ok {
				t.Fatalf("the scoped plan reached beyond its scope")
			}
			if sync.NeedsTotals(got) {
				part.Totals = scopedTotals(t, m)
			}
			sync.Guard(got, part, nil)
			if w, g := planJSON(t, want), planJSON(t, got); w != g {
				t.Fatalf("scoped plan differs from the full plan\nfull:   %s\nscoped: %s", w, g)
			}
		})
	}
}

// scopedStore records how the cycles load the directory: whole (Tx.State)
// or in part (ScopedTx.StateOf, with the users each load returned).
type scopedStore struct {
	sync.Store
	whole  *int
	scoped *[]int
}

func (c scopedStore) Begin(ctx context.Context, tenantID string) (sync.Tx, error) {
	tx, err := c.Store.Begin(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return recordingTx{tx.(scopableTx), c}, nil
}

type scopableTx interface {
	sync.Tx
	sync.DeltaTx
	sync.ScopedTx
}

type recordingTx struct {
	scopableTx
	c scopedStore
}

func (t recordingTx) State(ctx context.Context) (*sync.State, error) {
	*t.c.whole++
	return t.scopableTx.State(ctx)
}

func (t recordingTx) StateOf(ctx context.Context, scope sync.StateScope) (*sync.State, error) {
	st, err := t.scopableTx.StateOf(ctx, scope)
	if err == nil {
		*t.c.scoped = append(*t.c.scoped, len(st.Users))
	}
	return st, err
}

// TestC11_ChangedCycleLoadsOnlyWhatItReaches: after a clean cycle, an
// incremental round that changed a few objects loads and plans only the
// users and groups those reach, applies what a full cycle would (a full one
// after it finds nothing), and a directory written in between, or a
// conflict left over, makes the next cycle load the whole directory again.
func TestC11_ChangedCycleLoadsOnlyWhatItReaches(t *testing.T) {
	t.Parallel()
	h := deltaHarness(t)
	ctx := context.Background()
	whole, scoped := 0, []int{}
	h.syncer = sync.NewSyncer(scopedStore{h.db, &whole, &scoped}, nil)
	cycle := func(wantWhole, wantScoped int, what string) *sync.Result {
		t.Helper()
		whole, scoped = 0, nil
		res := h.cycle(t)
		if whole != wantWhole || len(scoped) != wantScoped || res.Run.Mode != sync.ModeIncremental {
			t.Fatalf("%s: %d whole and %d scoped loads (%s), want %d and %d", what, whole, len(scoped), res.Run.Mode, wantWhole, wantScoped)
		}
		return res
	}
	all, _ := h.db.Users(ctx, tenantName, "")
	cycle(0, 0, "unchanged")

	setUser(h.srv, gid(1001), func(u *graphtest.User) { u.DisplayName = "Renamed" })
	res := cycle(0, 1, "one user renamed")
	if c := res.Plan.Counts(); len(c) != 1 || c["user.update"] != 1 || scoped[0] >= len(all) {
		t.Fatalf("one rename: %v, %d of %d users loaded", c, scoped[0], len(all))
	}
	h.srv.Update(func(tn *graphtest.Tenant) {
		tn.Groups[0].Members = slices.DeleteFunc(tn.Groups[0].Members, func(m string) bool { return m == gid(1002) || m == gid(1003) })
	})
	// Removals are proven against Graph's counts between two plans (C4).
	if c := cycle(0, 2, "two members leave").Plan.Counts(); c["user.archive"] != 2 || c["membership.remove"] != 2 {
		t.Fatalf("two members leave: %v, want them archived and out of the group", c)
	}
	cycle(0, 0, "unchanged again")
	if res := h.fullCycle(t); !res.Plan.Empty() {
		t.Fatalf("a full cycle after scoped ones: %v, want nothing", res.Plan.Counts())
	}

	// Written in between: the whole directory again.
	u, _ := h.db.ResolveUser(ctx, tenantName, gid(1004))
	if err := h.db.PurgeUser(ctx, tenantName, u.ID); err != nil {
		t.Fatal(err)
	}
	setUser(h.srv, gid(1005), func(u *graphtest.User) { u.Surname = "Changed" })
	cycle(1, 0, "after a purge")

	// A conflict: planned in part, and again in whole the next time.
	setUser(h.srv, gid(1006), func(u *graphtest.User) { u.UserPrincipalName, u.Mail = "user1007@acme.test", "" })
	if res := cycle(0, 1, "a conflict"); len(res.Plan.Conflicts) != 1 {
		t.Fatalf("conflicts = %+v", res.Plan.Conflicts)
	}
	if res := cycle(1, 0, "the conflict again"); len(res.Plan.Conflicts) != 1 {
		t.Fatalf("conflict not planned again: %+v", res.Plan.Conflicts)
	}
}

// TestC11_LostGroupUnassignedArchivesItsMembers, end to end (real SDK over
// graphtest): a full read does not find an assigned group (404), so it and
// its members' paths through it are left as they are. Then it is
// unassigned: the incremental cycle after that clean one archives the group
// and the members whose only path it was, as a full cycle would, and a full
// cycle after it finds nothing left.
func TestC11_LostGroupUnassignedArchivesItsMembers(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Groups = append(tn.Groups, secGroup(300, "Lost", gid(4), gid(5)))
	tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(300)})
	h := MustMemoryHarness(t, tn, nil)
	if res := h.cycle(t); res.Plan.Counts()["user.create"] != 5 {
		t.Fatalf("first cycle: %v", res.Plan.Counts())
	}
	h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}", ID: gid(300), Status: 404, Times: 1000})
	res := h.fullCycle(t)
	if !res.Plan.Empty() || skipped(res.Plan, sync.SkipGroup, gid(300)) == nil || res.Run.Outcome != sync.OutcomeSucceeded {
		t.Fatalf("full cycle with the group not found: %v %+v %s", res.Plan.Counts(), res.Plan.Skipped, res.Run.Outcome)
	}
	h.srv.Unassign(gid(300))
	inc := h.cycle(t)
	full := h.fullCycle(t)
	if inc.Run.Mode != sync.ModeIncremental || inc.Plan.Counts()["user.archive"] != 2 || !full.Plan.Empty() {
		t.Fatalf("incremental cycle (%s) after the lost group was unassigned: %v; a full cycle after it: %v (want the group and users 4, 5 archived by the first, nothing left for the second)",
			inc.Run.Mode, inc.Plan.Counts(), full.Plan.Counts())
	}
}
