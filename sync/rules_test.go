package sync_test

// The rules of docs/behaviour.md, each tested end to end: the real msgraph-sdk-go and
// azidentity over HTTPS against graph/graphtest, into a real PostgreSQL schema.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
	"github.com/entrasync/entrasync/sync/synctest"
)

const tenantName = "acme"

// gid returns a GUID object id for n (Entra object ids are GUIDs).
func gid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

const (
	spID  = "5e000000-0000-4000-8000-000000000001"
	botID = "5e000000-0000-4000-8000-000000000002"
)

func tuser(n int, enabled bool) graphtest.User {
	return graphtest.User{ID: gid(n), UserPrincipalName: fmt.Sprintf("user%d@acme.test", n), Mail: fmt.Sprintf("user%d@acme.test", n),
		DisplayName: fmt.Sprintf("User %d", n), GivenName: "User", Surname: fmt.Sprint(n), AccountEnabled: enabled}
}

func secGroup(n int, name string, members ...string) graphtest.Group {
	return graphtest.Group{ID: gid(n), DisplayName: name, SecurityEnabled: true, Members: members}
}

// baseTenant has users 1..5, group 100 "Staff" with users 2 and 3, and
// direct assignments for users 1 and 2 and the group.
func baseTenant() *graphtest.Tenant {
	t := &graphtest.Tenant{
		TenantID: "7e000000-0000-4000-8000-000000000001", ClientID: "c1000000-0000-4000-8000-000000000001",
		ClientSecret:      "test-secret-value",
		Application:       graphtest.ServicePrincipal{ID: spID, AppID: "a0000000-0000-4000-8000-000000000001", DisplayName: "Vault"},
		ServicePrincipals: []graphtest.ServicePrincipal{{ID: botID, AppID: "a0000000-0000-4000-8000-000000000002", DisplayName: "Robot"}},
	}
	for i := 1; i <= 5; i++ {
		t.Users = append(t.Users, tuser(i, true))
	}
	t.Groups = []graphtest.Group{secGroup(100, "Staff", gid(2), gid(3))}
	t.Assignments = []graphtest.Assignment{{PrincipalID: gid(1)}, {PrincipalID: gid(2)}, {PrincipalID: gid(100)}}
	return t
}

type harness struct {
	srv    *graphtest.Server
	db     sync.Store
	src    *graph.Source
	syncer *sync.Syncer
}

// MustHarness serves t over HTTPS, opens a fresh PostgreSQL schema, registers
// the tenant with settings and builds the real Graph source.
func MustHarness(tb testing.TB, t *graphtest.Tenant, settings *sync.TenantSettings) *harness {
	tb.Helper()
	return mustHarnessOn(tb, mustPostgres(tb), t, settings)
}

// MustMemoryHarness is MustHarness on synctest's in-memory directory, for
// tests whose subject is not the database.
func MustMemoryHarness(tb testing.TB, t *graphtest.Tenant, settings *sync.TenantSettings) *harness {
	tb.Helper()
	return mustHarnessOn(tb, synctest.NewMemory(), t, settings)
}

func mustHarnessOn(tb testing.TB, db sync.Store, t *graphtest.Tenant, settings *sync.TenantSettings, opts ...graphtest.Option) *harness {
	tb.Helper()
	srv := graphtest.NewServer(t, opts...)
	tb.Cleanup(srv.Close)
	s := sync.DefaultTenantSettings()
	if settings != nil {
		s = *settings
	}
	if err := db.RegisterTenant(context.Background(), sync.Tenant{ID: tenantName, EntraTenantID: t.TenantID, Settings: s}); err != nil {
		tb.Fatalf("register tenant: %v", err)
	}
	return &harness{srv: srv, db: db, src: mustSource(tb, srv, 2), syncer: sync.NewSyncer(db, nil)}
}

// mustSource is the real Graph source of srv's tenant, retrying a failed
// request maxRetries times.
func mustSource(tb testing.TB, srv *graphtest.Server, maxRetries int) *graph.Source {
	tb.Helper()
	t := srv.Tenant()
	src, err := graph.New(graph.Config{TenantID: t.TenantID, ClientID: t.ClientID, ClientSecret: t.ClientSecret,
		ServicePrincipalID: t.Application.ID, GraphEndpoint: srv.GraphEndpoint(), LoginEndpoint: srv.LoginEndpoint(),
		Transport: srv.Client().Transport, MaxRetries: maxRetries}, nil)
	if err != nil {
		tb.Fatalf("graph source: %v", err)
	}
	return src
}

// cycle runs one cycle: full the first time, incremental after that.
func (h *harness) cycle(tb testing.TB) *sync.Result {
	tb.Helper()
	return h.cycleWith(tb, sync.CycleOptions{Trigger: "test"})
}

// fullCycle runs a full cycle (sync --full).
func (h *harness) fullCycle(tb testing.TB) *sync.Result {
	tb.Helper()
	return h.cycleWith(tb, sync.CycleOptions{Trigger: "test", Full: true})
}

func (h *harness) cycleWith(tb testing.TB, opt sync.CycleOptions) *sync.Result {
	tb.Helper()
	res, err := h.syncer.Cycle(context.Background(), tenantName, h.src, opt)
	if err != nil {
		tb.Fatalf("cycle: %v", err)
	}
	return res
}

func (h *harness) users(tb testing.TB) map[string]sync.User {
	tb.Helper()
	us, err := h.db.Users(context.Background(), tenantName, "")
	if err != nil {
		tb.Fatalf("users: %v", err)
	}
	m := map[string]sync.User{}
	for _, u := range us {
		if u.EntraID != "" && u.Status != sync.StatusPurged {
			m[u.EntraID] = u
		}
	}
	return m
}

func (h *harness) groups(tb testing.TB) map[string]sync.Group {
	tb.Helper()
	gs, err := h.db.Groups(context.Background(), tenantName)
	if err != nil {
		tb.Fatalf("groups: %v", err)
	}
	m := map[string]sync.Group{}
	for _, g := range gs {
		m[g.EntraID] = g
	}
	return m
}

func setUser(s *graphtest.Server, id string, fn func(u *graphtest.User)) {
	s.Update(func(t *graphtest.Tenant) {
		for i := range t.Users {
			if t.Users[i].ID == id {
				fn(&t.Users[i])
			}
		}
	})
}

func skipped(p *sync.Plan, kind, id string) *sync.Skip {
	for i := range p.Skipped {
		if p.Skipped[i].Kind == kind && p.Skipped[i].ID == id {
			return &p.Skipped[i]
		}
	}
	return nil
}

func TestS1_InScopeNeedsEnabledAccountAndPath(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Users[0].AccountEnabled = false // user 1: direct but disabled
	h := MustHarness(t, tn, nil)
	h.cycle(t)
	us := h.users(t)
	if _, ok := us[gid(1)]; ok {
		t.Errorf("disabled user 1 was provisioned")
	}
	for _, n := range []int{4, 5} {
		if _, ok := us[gid(n)]; ok {
			t.Errorf("user %d has no path but was provisioned", n)
		}
	}
	if len(us) != 2 {
		t.Fatalf("provisioned %d users, want 2 (users 2 and 3)", len(us))
	}
	setUser(h.srv, gid(1), func(u *graphtest.User) { u.AccountEnabled = true })
	h.cycle(t)
	if u, ok := h.users(t)[gid(1)]; !ok || u.Status != sync.StatusStaged {
		t.Fatalf("enabled user 1 = %+v, want staged", u)
	}
}

func TestS2_OnlySecurityGroupsAreSupported(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Groups = append(tn.Groups,
		graphtest.Group{ID: gid(101), DisplayName: "Everyone (M365)", SecurityEnabled: true, MailEnabled: true, GroupTypes: []string{"Unified"}, Members: []string{gid(4)}},
		graphtest.Group{ID: gid(102), DisplayName: "Newsletter", MailEnabled: true, Members: []string{gid(5)}})
	tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(101)}, graphtest.Assignment{PrincipalID: gid(102)})
	h := MustHarness(t, tn, nil)
	res := h.cycle(t)
	us, gs := h.users(t), h.groups(t)
	if _, ok := us[gid(4)]; ok {
		t.Errorf("member of a Microsoft 365 group got a path")
	}
	if _, ok := us[gid(5)]; ok {
		t.Errorf("member of a distribution group got a path")
	}
	if _, ok := gs[gid(101)]; ok {
		t.Errorf("Microsoft 365 group mirrored")
	}
	if _, ok := gs[gid(102)]; ok {
		t.Errorf("distribution group mirrored")
	}
	if s := skipped(res.Plan, sync.SkipGroup, gid(101)); s == nil || !strings.Contains(s.Reason, "Microsoft 365") {
		t.Errorf("plan does not list the M365 group with its reason: %+v", res.Plan.Skipped)
	}
	if s := skipped(res.Plan, sync.SkipGroup, gid(102)); s == nil || !strings.Contains(s.Reason, "distribution") {
		t.Errorf("plan does not list the distribution group with its reason: %+v", res.Plan.Skipped)
	}
	if _, ok := gs[gid(100)]; !ok {
		t.Errorf("security group not mirrored")
	}
}

func TestS3_NoNesting(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Groups = append(tn.Groups, secGroup(110, "Inner", gid(4)))
	tn.Groups[0].Members = append(tn.Groups[0].Members, gid(110))
	h := MustHarness(t, tn, nil)
	res := h.cycle(t)
	if _, ok := h.users(t)[gid(4)]; ok {
		t.Errorf("member of a nested group got a path through the outer group")
	}
	if _, ok := h.groups(t)[gid(110)]; ok {
		t.Errorf("nested group mirrored")
	}
	s := skipped(res.Plan, sync.SkipNestedGroup, gid(110))
	if s == nil || s.Parent != gid(100) {
		t.Fatalf("plan does not list the nested group: %+v", res.Plan.Skipped)
	}
	if g := h.groups(t)[gid(100)]; len(g.Members) != 2 {
		t.Errorf("outer group members = %v, want users 2 and 3 only", g.Members)
	}
}

func TestS4_ServicePrincipalAssignmentsIgnored(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: botID})
	tn.Groups[0].Members = append(tn.Groups[0].Members, botID)
	h := MustHarness(t, tn, nil)
	res := h.cycle(t)
	if res.Plan.ServicePrincipalAssignments != 1 {
		t.Fatalf("service principal assignments counted = %d, want 1", res.Plan.ServicePrincipalAssignments)
	}
	if n := len(h.users(t)); n != 3 {
		t.Fatalf("users = %d, want 3 (no user for the service principal)", n)
	}
}

func TestS5_SeveralPaths(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Groups = append(tn.Groups, secGroup(101, "Ops", gid(2)))
	tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(101)})
	h := MustHarness(t, tn, nil)
	h.cycle(t)
	want := []string{"direct", "group:" + gid(100), "group:" + gid(101)}
	if got := h.users(t)[gid(2)].Paths; !slices.Equal(got, want) {
		t.Fatalf("user 2 paths = %v, want %v", got, want)
	}
	h.srv.Unassign(gid(2))
	h.srv.RemoveMember(gid(100), gid(2))
	res := h.cycle(t)
	u := h.users(t)[gid(2)]
	if u.Status != sync.StatusStaged || !slices.Equal(u.Paths, []string{"group:" + gid(101)}) {
		t.Fatalf("user 2 after losing two paths = %s %v, want staged with the Ops path", u.Status, u.Paths)
	}
	gs := h.groups(t)
	if slices.Contains(gs[gid(100)].Members, gid(2)) || !slices.Contains(gs[gid(101)].Members, gid(2)) {
		t.Fatalf("losing Staff must remove only that membership: staff=%v ops=%v", gs[gid(100)].Members, gs[gid(101)].Members)
	}
	if res.Plan.Counts()["user.archive"] != 0 {
		t.Fatalf("a user with a path left was archived")
	}
	h.srv.RemoveMember(gid(101), gid(2))
	h.cycle(t)
	if u := h.users(t)[gid(2)]; u.Status != sync.StatusArchived {
		t.Fatalf("user 2 with no path left = %s, want archived", u.Status)
	}
}

func TestS6_MatchedByObjectIDNotEmail(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.cycle(t)
	before := h.users(t)[gid(1)]
	setUser(h.srv, gid(1), func(u *graphtest.User) {
		u.UserPrincipalName, u.Mail = "renamed@acme.test", "renamed@acme.test"
	})
	res := h.cycle(t)
	after := h.users(t)[gid(1)]
	if after.ID != before.ID || after.Email != "renamed@acme.test" {
		t.Fatalf("after e-mail and UPN change: id %d → %d, email %q", before.ID, after.ID, after.Email)
	}
	if c := res.Plan.Counts(); c["user.create"] != 0 || c["user.update"] != 1 {
		t.Fatalf("an e-mail change must be one update, not a create: %v", c)
	}
	// A different object with an e-mail an existing user used to have is a
	// different person: matched by id, it is created.
	h.srv.SetUser(graphtest.User{ID: gid(9), UserPrincipalName: "user1@acme.test", Mail: "user1@acme.test", AccountEnabled: true})
	h.srv.Assign(gid(9))
	h.cycle(t)
	if u, ok := h.users(t)[gid(9)]; !ok || u.ID == before.ID {
		t.Fatalf("new object reusing an old e-mail must be a new user, got %+v", u)
	}
}

func TestL1_CreateStaged(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.cycle(t)
	for _, n := range []int{1, 2, 3} {
		if u := h.users(t)[gid(n)]; u.Status != sync.StatusStaged || u.Origin != sync.OriginProvisioned {
			t.Fatalf("user %d = %s/%s, want staged/provisioned", n, u.Status, u.Origin)
		}
	}
	evs, _ := h.db.Events(context.Background(), tenantName, 0, 100)
	if n := countEvents(evs, "user.created"); n != 3 {
		t.Fatalf("user.created events = %d, want 3", n)
	}
	if countEvents(evs, "user.invited") != 0 {
		t.Fatalf("invitation queued with automatic invitation off")
	}
}

func TestL1_CreateInvitedWithAutomaticInvitation(t *testing.T) {
	t.Parallel()
	s := sync.DefaultTenantSettings()
	s.AutoInvite = true
	h := MustHarness(t, baseTenant(), &s)
	h.cycle(t)
	if u := h.users(t)[gid(1)]; u.Status != sync.StatusInvited {
		t.Fatalf("user 1 = %s, want invited", u.Status)
	}
	evs, _ := h.db.Events(context.Background(), tenantName, 0, 100)
	if n := countEvents(evs, "user.invited"); n != 3 {
		t.Fatalf("user.invited events = %d, want 3", n)
	}
}

func countEvents(evs []sync.Event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestL2_UpdateCopiesEntraAttributes(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.cycle(t)
	setUser(h.srv, gid(1), func(u *graphtest.User) {
		u.DisplayName, u.GivenName, u.Surname, u.Mail = "Ada Lovelace", "Ada", "Lovelace", "ada@acme.test"
	})
	setUser(h.srv, gid(2), func(u *graphtest.User) { u.Mail = "" }) // falls back to the UPN
	evs0, _ := h.db.Events(context.Background(), tenantName, 0, 1000)
	h.cycle(t)
	us := h.users(t)
	u := us[gid(1)]
	if u.DisplayName != "Ada Lovelace" || u.GivenName != "Ada" || u.Surname != "Lovelace" || u.Email != "ada@acme.test" {
		t.Fatalf("user 1 = %+v", u)
	}
	if us[gid(2)].Email != "user2@acme.test" || us[gid(2)].Mail != "" {
		t.Fatalf("user 2 without mail: email %q mail %q, want the UPN", us[gid(2)].Email, us[gid(2)].Mail)
	}
	evs, _ := h.db.Events(context.Background(), tenantName, evs0[len(evs0)-1].ID, 1000)
	var found bool
	for _, e := range evs {
		if e.Type == "user.email_changed" && e.EntraID == gid(1) {
			found = e.Data["old"] == "user1@acme.test" && e.Data["new"] == "ada@acme.test"
		}
	}
	if !found {
		t.Fatalf("no user.email_changed event with old and new value: %+v", evs)
	}
}

func TestL2_EmailFromUPNWhenChosen(t *testing.T) {
	t.Parallel()
	s := sync.DefaultTenantSettings()
	s.EmailSource = sync.EmailFromUPN
	tn := baseTenant()
	tn.Users[0].Mail = "different@acme.test"
	h := MustHarness(t, tn, &s)
	h.cycle(t)
	if u := h.users(t)[gid(1)]; u.Email != "user1@acme.test" {
		t.Fatalf("email = %q, want the UPN", u.Email)
	}
}

func TestL3_ArchiveNeverDeletes(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.cycle(t)
	h.exec(t, `UPDATE users SET status = 'active' WHERE entra_id = $1`, gid(1))
	h.srv.Unassign(gid(1))                                                       // no path left
	setUser(h.srv, gid(2), func(u *graphtest.User) { u.AccountEnabled = false }) // disabled
	h.srv.DeleteUser(gid(3))                                                     // deleted in Entra
	h.cycle(t)
	us := h.users(t)
	for n, why := range map[int]string{1: "no assignment path", 2: "disabled", 3: "no assignment path"} {
		u, ok := us[gid(n)]
		if !ok {
			t.Fatalf("user %d was deleted locally", n)
		}
		if u.Status != sync.StatusArchived || u.ArchivedAt == nil || !strings.Contains(u.ArchiveReason, why) {
			t.Errorf("user %d = %s at %v (%q), want archived because %s", n, u.Status, u.ArchivedAt, u.ArchiveReason, why)
		}
	}
	if us[gid(1)].PreviousStatus != sync.StatusActive {
		t.Errorf("previous status = %q, want active", us[gid(1)].PreviousStatus)
	}
	if g := h.groups(t)[gid(100)]; len(g.Members) != 0 {
		t.Errorf("archived users kept memberships: %v", g.Members)
	}
}

func TestL4_RestoreKeepsIDAndStatus(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.cycle(t)
	h.exec(t, `UPDATE users SET status = 'active' WHERE entra_id = $1`, gid(2))
	before := h.users(t)[gid(2)]
	h.srv.Unassign(gid(2))
	h.srv.RemoveMember(gid(100), gid(2))
	h.cycle(t)
	if u := h.users(t)[gid(2)]; u.Status != sync.StatusArchived {
		t.Fatalf("user 2 = %s, want archived", u.Status)
	}
	h.srv.AddMember(gid(100), gid(2))
	res := h.cycle(t)
	u := h.users(t)[gid(2)]
	if u.ID != before.ID || u.Status != sync.StatusActive || u.ArchivedAt != nil || u.PreviousStatus != "" {
		t.Fatalf("restored user = id %d status %s archivedAt %v prev %q; want id %d active", u.ID, u.Status, u.ArchivedAt, u.PreviousStatus, before.ID)
	}
	if res.Plan.Counts()["user.restore"] != 1 || !slices.Contains(h.groups(t)[gid(100)].Members, gid(2)) {
		t.Fatalf("restore plan %v, members %v", res.Plan.Counts(), h.groups(t)[gid(100)].Members)
	}
}

func TestL5_PurgedUserComesBackAsNew(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.cycle(t)
	old := h.users(t)[gid(1)]
	h.srv.Unassign(gid(1))
	h.cycle(t)
	if err := h.db.PurgeUser(context.Background(), tenantName, old.ID); err != nil {
		t.Fatal(err)
	}
	res := h.cycle(t)
	if res.Plan.Counts()["user.create"] != 0 {
		t.Fatalf("the sync recreated a purged, unassigned user")
	}
	h.srv.Assign(gid(1))
	h.cycle(t)
	u := h.users(t)[gid(1)]
	if u.ID == old.ID || u.Status != sync.StatusStaged || u.Email != "user1@acme.test" {
		t.Fatalf("returning purged user = %+v, want a new staged user", u)
	}
	all, _ := h.db.Users(context.Background(), tenantName, sync.StatusPurged)
	if len(all) != 1 || all[0].Email != "" || all[0].DisplayName != "" {
		t.Fatalf("tombstone = %+v, want one without personal data", all)
	}
}

func TestL6_GroupsMirroredArchivedRestored(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.cycle(t)
	g := h.groups(t)[gid(100)]
	if g.DisplayName != "Staff" || g.Archived() {
		t.Fatalf("group = %+v", g)
	}
	h.exec(t, `UPDATE groups SET members_may_store_data = false WHERE id = $1`, g.ID)
	h.srv.Update(func(t *graphtest.Tenant) { t.Groups[0].DisplayName = "All Staff" })
	h.cycle(t)
	if g := h.groups(t)[gid(100)]; g.DisplayName != "All Staff" {
		t.Fatalf("rename not mirrored: %q", g.DisplayName)
	}
	h.srv.Unassign(gid(100))
	h.cycle(t)
	g2 := h.groups(t)[gid(100)]
	if !g2.Archived() || len(g2.Members) != 0 || g2.MembersMayStoreData == nil || *g2.MembersMayStoreData {
		t.Fatalf("unassigned group = %+v, want archived, no members, settings kept", g2)
	}
	if u := h.users(t)[gid(3)]; u.Status != sync.StatusArchived {
		t.Fatalf("user 3's only path was the group: %s", u.Status)
	}
	h.srv.Assign(gid(100))
	h.cycle(t)
	g3 := h.groups(t)[gid(100)]
	if g3.ID != g.ID || g3.Archived() || len(g3.Members) != 2 || *g3.MembersMayStoreData {
		t.Fatalf("re-assigned group = %+v, want restored with id %d, 2 members, settings kept", g3, g.ID)
	}
	h.srv.DeleteGroup(gid(100))
	h.cycle(t)
	if g := h.groups(t)[gid(100)]; !g.Archived() {
		t.Fatalf("deleted group not archived")
	}
}

func TestL7_MembersAreExactlyDirectUsersInScope(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Groups[0].Members = []string{gid(2), gid(3), gid(4)}
	tn.Users[3].AccountEnabled = false // user 4 is disabled
	h := MustHarness(t, tn, nil)
	h.cycle(t)
	if got := h.groups(t)[gid(100)].Members; !slices.Equal(got, []string{gid(2), gid(3)}) {
		t.Fatalf("members = %v, want users 2 and 3 (user 4 disabled)", got)
	}
	h.srv.AddMember(gid(100), gid(5))
	h.srv.RemoveMember(gid(100), gid(3))
	h.cycle(t)
	if got := h.groups(t)[gid(100)].Members; !slices.Equal(got, []string{gid(2), gid(5)}) {
		t.Fatalf("members = %v, want users 2 and 5", got)
	}
}

func TestL8_LocalFieldsAreLocal(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.cycle(t)
	h.exec(t, `UPDATE users SET status = 'active', require_mobile_auth = false WHERE entra_id = $1`, gid(1))
	h.exec(t, `UPDATE users SET status = 'invited' WHERE entra_id = $1`, gid(2))
	h.exec(t, `UPDATE groups SET require_mobile_auth = true WHERE entra_id = $1`, gid(100))
	h.exec(t, `INSERT INTO users (tenant_id, origin, email, email_key, display_name, status) VALUES ($1, 'manual', 'local@acme.test', 'local@acme.test', 'Local Admin', 'active')`, tenantName)
	setUser(h.srv, gid(1), func(u *graphtest.User) { u.DisplayName = "Changed" })
	setUser(h.srv, gid(2), func(u *graphtest.User) { u.DisplayName = "Changed too" })
	h.cycle(t)
	us := h.users(t)
	if u := us[gid(1)]; u.Status != sync.StatusActive || u.RequireMobileAuth == nil || *u.RequireMobileAuth || u.DisplayName != "Changed" {
		t.Fatalf("user 1 = %+v: status and override must stay, name must update", u)
	}
	if u := us[gid(2)]; u.Status != sync.StatusInvited {
		t.Fatalf("user 2 status = %s, want invited", u.Status)
	}
	if g := h.groups(t)[gid(100)]; g.RequireMobileAuth == nil || !*g.RequireMobileAuth {
		t.Fatalf("group override lost")
	}
	manual, _ := h.db.Users(context.Background(), tenantName, sync.StatusActive)
	var found bool
	for _, u := range manual {
		found = found || (u.Origin == sync.OriginManual && u.Email == "local@acme.test")
	}
	if !found {
		t.Fatalf("manual user touched: %+v", manual)
	}
}

func TestC3_DryRunChangesNothing(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	before := h.dump(t, "tenants", "users", "user_paths", "groups", "memberships", "provisioning_log", "events", "runs")
	res, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{DryRun: true, Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Counts()["user.create"] != 3 {
		t.Fatalf("dry run plan = %v, want 3 creates", res.Plan.Counts())
	}
	if after := h.dump(t, "tenants", "users", "user_paths", "groups", "memberships", "provisioning_log", "events", "runs"); after != before {
		t.Fatalf("dry run wrote to the directory:\n%s", after)
	}
}

func TestC4_FailedReadAppliesNothing(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name  string
		fault graphtest.Fault
		want  string
	}{
		{"500 on page 3 of a group's members", graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", ID: gid(100), Page: 3, Status: 500}, "members of group " + gid(100) + ", page 3"},
		{"service principal 503 after retries", graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}", Status: 503, RetryAfter: "0"}, "service principal"},
		{"assignments page truncated", graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", Page: 1, Body: `{"value":[{"id":"x","principalId":"` + gid(1)}, "appRoleAssignedTo"},
		{"assignments page without value", graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", Page: 1, Body: `{"@odata.context":"x"}`}, "no value array"},
		{"member without id", graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", Page: 1, Body: `{"value":[{"@odata.type":"#microsoft.graph.user","displayName":"Ghost"}]}`}, "has no id"},
		{"group read 403", graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}", Status: 403}, "group " + gid(100)},
		{"user look-up 500", graphtest.Fault{Endpoint: "GET /v1.0/users/{id}", Status: 500}, "user "},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			tn := baseTenant()
			for i := 1000; i < 1000+2100; i++ { // three pages of members at $top=999
				tn.Users = append(tn.Users, tuser(i, true))
				tn.Groups[0].Members = append(tn.Groups[0].Members, gid(i))
			}
			h := MustHarness(t, tn, nil)
			h.cycle(t)
			// Change the tenant so a sound cycle would write plenty.
			setUser(h.srv, gid(3), func(u *graphtest.User) { u.AccountEnabled = false })
			h.srv.RemoveMember(gid(100), gid(1000))
			setUser(h.srv, gid(2), func(u *graphtest.User) { u.Mail = "new@acme.test" })
			before := h.dump(t)
			h.srv.InjectFault(f.fault)
			// The faults are in the full read's requests.
			res, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{Trigger: "test", Full: true})
			if err == nil {
				t.Fatalf("cycle succeeded despite the fault; plan %v", res.Plan.Counts())
			}
			if !errors.Is(err, sync.ErrSnapshotIncomplete) || !strings.Contains(err.Error(), f.want) {
				t.Fatalf("error = %v, want ErrSnapshotIncomplete naming %q", err, f.want)
			}
			if after := h.dump(t); after != before {
				t.Fatalf("a failed read changed the directory")
			}
			runs, _ := h.db.Runs(context.Background(), tenantName, 1)
			if len(runs) != 1 || runs[0].Outcome != sync.OutcomeFailed || !strings.Contains(runs[0].Error, f.want) {
				t.Fatalf("last run = %+v, want a failed run saying which read failed", runs)
			}
			h.srv.ClearFaults()
			// The failed cycle left the delta state where it was: the next
			// (incremental) cycle sees every change since.
			if res := h.cycle(t); res.Run.Mode != sync.ModeIncremental || res.Plan.Counts()["user.archive"] != 2 || res.Plan.Counts()["user.update"] != 1 {
				t.Fatalf("next sound cycle = %v, want it to converge", res.Plan.Counts())
			}
		})
	}
}

func TestC9_UnchangedCycleWritesOnlyItsRun(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.cycle(t)
	before := h.dump(t)
	res := h.cycle(t)
	if !res.Plan.Empty() {
		t.Fatalf("second cycle plan not empty: %+v", res.Plan.Changes)
	}
	if after := h.dump(t); after != before {
		t.Fatalf("an unchanged cycle wrote to the directory:\n--- before\n%s\n--- after\n%s", before, after)
	}
	runs, _ := h.db.Runs(context.Background(), tenantName, 10)
	if len(runs) != 2 || runs[0].Outcome != sync.OutcomeSucceeded || len(runs[0].Counts) != 0 {
		t.Fatalf("runs = %+v, want two, the last with no changes", runs)
	}
}

func TestL10_DuplicateEmailIsAConflictTheRestApplies(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Users[4].Mail = "USER1@acme.test" // user 5 collides with user 1, case-insensitively
	tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(5)})
	h := MustHarness(t, tn, nil)
	res, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Plan.Conflicts) != 1 || res.Plan.Conflicts[0].EntraID != gid(5) || res.Run.Outcome != sync.OutcomeConflicts {
		t.Fatalf("conflicts = %+v outcome %s", res.Plan.Conflicts, res.Run.Outcome)
	}
	if n := len(h.users(t)); n != 3 {
		t.Fatalf("users = %d, want the 3 without conflict applied", n)
	}
	setUser(h.srv, gid(5), func(u *graphtest.User) { u.Mail = "five@acme.test" })
	h.cycle(t)
	if _, ok := h.users(t)[gid(5)]; !ok {
		t.Fatalf("conflict not retried next cycle")
	}
}

func TestGraphRequestsAreCounted(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil)
	h.srv.ResetCounts()
	res := h.cycle(t)
	// Three delta links from now, then SP, assignments, group, members,
	// user 1 look-up, and the member count of the group the read adds
	// members to (it goes into the delta state's mirror).
	if got, want := res.Run.GraphRequests, h.srv.GraphRequests(); got != want || got != 9 {
		t.Fatalf("run counted %d Graph requests, server saw %d, want 9", got, want)
	}
	// An unchanged incremental cycle: SP and the three delta rounds.
	h.srv.ResetCounts()
	res = h.cycle(t)
	if got, want := res.Run.GraphRequests, h.srv.GraphRequests(); res.Run.Mode != sync.ModeIncremental || got != want || got != 4 {
		t.Fatalf("incremental run (%s) counted %d Graph requests, server saw %d, want 4", res.Run.Mode, got, want)
	}
}

func TestBadInput_OddUsersAreSkippedTheRestApplies(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Users[0].DisplayName = "nul\x00byte"                  // user 1
	tn.Users[1].DisplayName = strings.Repeat("é", 3000)      // user 2: 6000 bytes
	tn.Users[4].UserPrincipalName, tn.Users[4].Mail = "", "" // user 5: neither mail nor UPN
	tn.Users[2].DisplayName = "Zoë 👩‍💻 ' \" ; DROP TABLE users; --"
	tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(5)})
	h := MustHarness(t, tn, nil)
	res := h.cycle(t)
	for n, why := range map[int]string{1: "NUL", 2: "bytes long", 5: "neither mail nor userPrincipalName"} {
		if s := skipped(res.Plan, sync.SkipUser, gid(n)); s == nil || !strings.Contains(s.Reason, why) {
			t.Errorf("user %d not skipped with %q: %+v", n, why, res.Plan.Skipped)
		}
	}
	us := h.users(t)
	if len(us) != 1 || us[gid(3)].DisplayName != tn.Users[2].DisplayName {
		t.Fatalf("users = %+v, want user 3 only, its name stored exactly", us)
	}
}

// TestL10_OneDuplicateAmongAThousand: one colliding e-mail holds back that
// one create; the other 999 apply in the same cycle.
func TestL10_OneDuplicateAmongAThousand(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Assignments = nil
	tn.Groups = nil
	for i := 1000; i < 2000; i++ {
		u := tuser(i, true)
		if i == 1999 {
			u.Mail = "USER1000@acme.test" // the same e-mail as user 1000, in another case
		}
		tn.Users = append(tn.Users, u)
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: u.ID})
	}
	h := MustHarness(t, tn, nil)
	res := h.cycle(t)
	if c := res.Plan.Counts(); c["user.create"] != 999 || c["conflict"] != 1 || len(h.users(t)) != 999 {
		t.Fatalf("counts %v, users %d; want 999 created and 1 conflict", c, len(h.users(t)))
	}
	c := res.Plan.Conflicts[0]
	if c.EntraID != gid(1999) || c.HolderLabel != "user1000@acme.test" {
		t.Fatalf("conflict = %+v, want user 1999 against user 1000", c)
	}
}

// TestBadInput_GroupWithUnsafeNameIsMirroredSafely: an assigned group whose
// name holds a NUL character, or is 10 MB long, no longer fails the tenant's
// cycles on PostgreSQL: it is mirrored under a safe name, its members keep
// their paths, and the next cycle plans nothing.
func TestBadInput_GroupWithUnsafeNameIsMirroredSafely(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	huge := strings.Repeat("é", 5<<20) // 10 MB
	tn.Groups = append(tn.Groups, secGroup(101, "Fin\x00ance", gid(4)), secGroup(102, huge, gid(5)))
	tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(101)}, graphtest.Assignment{PrincipalID: gid(102)})
	h := MustHarness(t, tn, nil)
	h.cycle(t)
	gs, us := h.groups(t), h.users(t)
	if g, ok := gs[gid(101)]; !ok || g.DisplayName != "Finance" {
		t.Errorf("group with a NUL in its name = %+v, %v; want mirrored as Finance", g, ok)
	}
	g, ok := gs[gid(102)]
	if !ok || len(g.DisplayName) > sync.MaxAttributeLength || !strings.HasPrefix(huge, g.DisplayName) {
		t.Errorf("10 MB group name mirrored as %d bytes (%v), want a prefix of at most %d", len(g.DisplayName), ok, sync.MaxAttributeLength)
	}
	for _, u := range []int{4, 5} {
		if us[gid(u)].Status != sync.StatusStaged {
			t.Errorf("member %d of a group with an unsafe name = %+v, want provisioned", u, us[gid(u)])
		}
	}
	if res := h.cycle(t); !res.Plan.Empty() {
		t.Errorf("second cycle plans %+v, want nothing (C9)", res.Plan.Changes)
	}
}
