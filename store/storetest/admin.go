package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// adminCases are the sync.Admin cases every backend must pass, each on its
// own fresh directory (the backends of conformance_test.go).
var adminCases = []struct {
	name string
	test func(t *testing.T, dir store.Store)
}{
	{"UsersPageFilteredInTheQuery", testUsersPage},
	{"InviteOneThenAllStaged", testInvite},
	{"InviteIsAllOrNothing", testInviteAllOrNothing},
	{"InviteBeyondAChunk", testInviteBeyondAChunk},
	{"PurgeThenRecreateSameEntraID", testAdminPurgeRecreate},
	{"ResolveUsersAndGroups", testResolve},
	{"UserAndGroupOverrides", testEntityOverrides},
	{"EffectiveSettingsMerge", testEffectiveSettings},
	{"OverridesSurviveCycles", testOverridesSurviveCycles},
	{"DisconnectDryRunAndReconnect", testDisconnect},
}

func adminOf(tb testing.TB, dir store.Store) sync.Admin {
	tb.Helper()
	return dir
}

// snapSource is a sync.Source that returns a snapshot built by hand.
type snapSource struct{ snap *sync.Snapshot }

func (s *snapSource) Snapshot(context.Context) (*sync.Snapshot, error) { return s.snap, nil }

// mustCycle runs a full cycle of t1 through sync.Syncer, as the worker does.
func mustCycle(tb testing.TB, dir sync.Directory, snap *sync.Snapshot) *sync.Result {
	tb.Helper()
	res, err := sync.NewSyncer(dir, nil).Cycle(context.Background(), "t1", &snapSource{snap}, sync.CycleOptions{Trigger: "test"})
	if err != nil {
		tb.Fatalf("cycle: %v", err)
	}
	return res
}

func wantCode(tb testing.TB, what string, err error, code string, mentions ...string) {
	tb.Helper()
	if sync.ErrorCode(err) != code {
		tb.Fatalf("%s = %v (code %q), want %s", what, err, sync.ErrorCode(err), code)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			tb.Fatalf("%s = %q, want it to name %q", what, err, m)
		}
	}
}

func boolPtr(b bool) *bool { return &b }

// testInvite: one staged user is invited with one user.invited event of the
// sync's shape; inviting them again is EINVALID naming them; --all-staged
// invites exactly the staged users, archived and purged ones untouched; a
// later cycle keeps the statuses (L8).
func testInvite(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	adm := adminOf(t, dir)
	a, b, c, d, e := user("a", "a@x.test"), user("b", "b@x.test"), user("c", "c@x.test"), user("d", "d@x.test"), user("e", "e@x.test")
	all := []sync.EntraUser{a, b, c, d, e}
	mustCycle(t, dir, snapshot(all, []string{"a", "b", "c", "d", "e"}))
	// d is unassigned (archived), e purged.
	s2 := snapshot(all, []string{"a", "b", "c"})
	mustCycle(t, dir, s2)
	users := mustUsers(t, dir, "t1", "")
	if err := dir.PurgeUser(ctx, "t1", byEntra(t, users, "e").ID); err != nil {
		t.Fatal(err)
	}
	ua := byEntra(t, users, "a")
	evBefore := mustEvents(t, dir, "t1", 0, 1000)
	lastID := evBefore[len(evBefore)-1].ID

	got, err := adm.InviteUsers(ctx, "t1", []int64{ua.ID}, false)
	if err != nil {
		t.Fatalf("invite a: %v", err)
	}
	if len(got) != 1 || got[0].ID != ua.ID || got[0].Status != sync.StatusInvited {
		t.Fatalf("invite a returned %+v", got)
	}
	if u := byEntra(t, mustUsers(t, dir, "t1", ""), "a"); u.Status != sync.StatusInvited {
		t.Fatalf("a after invite = %s", u.Status)
	}
	evs := mustEvents(t, dir, "t1", lastID, 0)
	if len(evs) != 1 || evs[0].Type != "user.invited" || evs[0].EntraID != "a" || evs[0].RunID != 0 || evs[0].TenantID != "t1" ||
		!reflect.DeepEqual(evs[0].Data, map[string]string{"email": "a@x.test"}) {
		t.Fatalf("events after invite = %+v", evs)
	}
	lastID = evs[0].ID

	_, err = adm.InviteUsers(ctx, "t1", []int64{ua.ID}, false)
	wantCode(t, "invite a again", err, sync.EINVALID, "a@x.test", "invited, not staged")
	_, err = adm.InviteUsers(ctx, "t1", []int64{byEntra(t, users, "d").ID}, false)
	wantCode(t, "invite archived d", err, sync.EINVALID, "d@x.test", "archived")
	_, err = adm.InviteUsers(ctx, "t1", []int64{987654}, false)
	wantCode(t, "invite unknown id", err, sync.ENOTFOUND, "987654")
	_, err = adm.InviteUsers(ctx, "nope", []int64{ua.ID}, false)
	if !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("invite in unknown tenant = %v", err)
	}
	_, err = adm.InviteUsers(ctx, "t1", nil, false)
	wantCode(t, "invite nobody", err, sync.EINVALID)
	if evs := mustEvents(t, dir, "t1", lastID, 0); len(evs) != 0 {
		t.Fatalf("failed invitations wrote events: %+v", evs)
	}

	got, err = adm.InviteUsers(ctx, "t1", nil, true)
	if err != nil {
		t.Fatalf("invite all staged: %v", err)
	}
	var ids []string
	for _, u := range got {
		ids = append(ids, u.EntraID)
	}
	if !reflect.DeepEqual(ids, []string{"b", "c"}) {
		t.Fatalf("all staged invited %v, want [b c]", ids)
	}
	status := map[string]sync.Status{}
	for _, u := range mustUsers(t, dir, "t1", "") {
		status[u.EntraID+"/"+string(u.Status)] = u.Status
	}
	for _, want := range []string{"a/invited", "b/invited", "c/invited", "d/archived", "e/purged"} {
		if _, ok := status[want]; !ok {
			t.Fatalf("statuses after all-staged = %v, want %s", status, want)
		}
	}
	evs = mustEvents(t, dir, "t1", lastID, 0)
	if len(evs) != 2 || evs[0].EntraID != "b" || evs[1].EntraID != "c" || evs[1].Data["email"] != "c@x.test" {
		t.Fatalf("events of all-staged = %+v", evs)
	}
	if got, err := adm.InviteUsers(ctx, "t1", nil, true); err != nil || len(got) != 0 {
		t.Fatalf("all staged with none staged = %+v, %v", got, err)
	}
	// The sync leaves invited users invited (L8).
	if res := mustCycle(t, dir, s2); !res.Plan.Empty() {
		t.Fatalf("cycle after invitations changes %+v", res.Plan.Changes)
	}
	if u := byEntra(t, mustUsers(t, dir, "t1", ""), "b"); u.Status != sync.StatusInvited {
		t.Fatalf("b after a cycle = %s", u.Status)
	}
}

// testInviteAllOrNothing: one user that cannot be invited fails the call and
// the others stay staged, without events.
func testInviteAllOrNothing(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	adm := adminOf(t, dir)
	mustCycle(t, dir, snapshot([]sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test")}, []string{"a", "b"}))
	users := mustUsers(t, dir, "t1", "")
	ua, ub := byEntra(t, users, "a"), byEntra(t, users, "b")
	if _, err := adm.InviteUsers(ctx, "t1", []int64{ua.ID}, false); err != nil {
		t.Fatal(err)
	}
	before := snapshotDir(t, dir)
	_, err := adm.InviteUsers(ctx, "t1", []int64{ub.ID, ua.ID}, false)
	wantCode(t, "invite b and invited a", err, sync.EINVALID, "a@x.test")
	_, err = adm.InviteUsers(ctx, "t1", []int64{ub.ID, 987654}, true)
	wantCode(t, "invite b and a missing id", err, sync.ENOTFOUND, "987654")
	if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("a failed invitation changed the directory:\nbefore %+v\nafter  %+v", before, after)
	}
}

// testAdminPurgeRecreate: a user found by its Entra id is purged; the
// reference then finds the tombstone; the next cycle creates the same Entra
// user anew, which the reference now finds instead.
func testAdminPurgeRecreate(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	adm := adminOf(t, dir)
	snap := snapshot([]sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test")}, []string{"a", "b"}, secGroup("g1", "Eng", "a", "b"))
	mustCycle(t, dir, snap)
	old, err := adm.ResolveUser(ctx, "t1", "A")
	if err != nil || old.EntraID != "a" {
		t.Fatalf("resolve a = %+v, %v", old, err)
	}
	if err := dir.PurgeUser(ctx, "t1", old.ID); err != nil {
		t.Fatal(err)
	}
	ts, err := adm.ResolveUser(ctx, "t1", "a")
	if err != nil || ts.ID != old.ID || ts.Status != sync.StatusPurged || ts.Email != "" || ts.DisplayName != "" {
		t.Fatalf("resolve after purge = %+v, %v; want the tombstone", ts, err)
	}
	_, err = adm.ResolveUser(ctx, "t1", "a@x.test")
	wantCode(t, "resolve purged e-mail", err, sync.ENOTFOUND, "a@x.test")
	res := mustCycle(t, dir, snap)
	if res.Plan.Counts()["user.create"] != 1 {
		t.Fatalf("cycle after purge = %v", res.Plan.Counts())
	}
	fresh, err := adm.ResolveUser(ctx, "t1", "a")
	if err != nil || fresh.ID == old.ID || fresh.Status != sync.StatusStaged || fresh.Email != "a@x.test" {
		t.Fatalf("resolve after re-create = %+v, %v (old id %d)", fresh, err, old.ID)
	}
	if byMail, err := adm.ResolveUser(ctx, "t1", "A@X.TEST"); err != nil || byMail.ID != fresh.ID {
		t.Fatalf("resolve by e-mail after re-create = %+v, %v", byMail, err)
	}
	if g := mustGroups(t, dir, "t1")[0]; !reflect.DeepEqual(g.Members, []string{"a", "b"}) {
		t.Fatalf("group members after re-create = %v", g.Members)
	}
}

// testResolve: users by id, e-mail or UPN in any case, Entra id; groups by
// id, Entra id, name; ambiguous and unknown references are errors naming
// the input.
func testResolve(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	adm := adminOf(t, dir)
	a := user("a", "alice@x.test")
	// b's mail is a's UPN's twin: "shared@x.test" is a's UPN and b's e-mail.
	a.UserPrincipalName = "shared@x.test"
	b := user("b", "bob@x.test")
	b.Mail = "Shared@X.test"
	c := user("c", "carol@x.test")
	snap := snapshot([]sync.EntraUser{a, b, c}, []string{"a", "b", "c"},
		secGroup("g1", "Eng", "a"), secGroup("g2", "Twins", "b"), secGroup("g3", "twins", "c"), secGroup("g4", "Ops", "c"))
	mustCycle(t, dir, snap)
	users := mustUsers(t, dir, "t1", "")
	ua, uc := byEntra(t, users, "a"), byEntra(t, users, "c")
	for ref, want := range map[string]int64{
		"alice@x.test": ua.ID, " ALICE@X.TEST ": ua.ID, "Carol@x.test": uc.ID, "c": uc.ID, "C": uc.ID,
		itoa(uc.ID): uc.ID,
	} {
		u, err := adm.ResolveUser(ctx, "t1", ref)
		if err != nil || u.ID != want {
			t.Errorf("ResolveUser(%q) = %d, %v; want %d", ref, u.ID, err, want)
		}
	}
	_, err := adm.ResolveUser(ctx, "t1", "SHARED@x.test")
	wantCode(t, "ambiguous user", err, sync.EINVALID, `"SHARED@x.test"`, "ambiguous", itoa(ua.ID))
	_, err = adm.ResolveUser(ctx, "t1", "nobody@x.test")
	wantCode(t, "unknown e-mail", err, sync.ENOTFOUND, "nobody@x.test")
	_, err = adm.ResolveUser(ctx, "t1", "987654")
	wantCode(t, "unknown id", err, sync.ENOTFOUND, "987654")
	_, err = adm.ResolveUser(ctx, "t1", "0f0f0f0f-dead-beef")
	wantCode(t, "unknown entra id", err, sync.ENOTFOUND, "0f0f0f0f-dead-beef")
	_, err = adm.ResolveUser(ctx, "t1", "  ")
	wantCode(t, "empty reference", err, sync.EINVALID)
	if _, err := adm.ResolveUser(ctx, "nope", "c"); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("ResolveUser in unknown tenant = %v", err)
	}

	groups := mustGroups(t, dir, "t1")
	gid := map[string]int64{}
	for _, g := range groups {
		gid[g.EntraID] = g.ID
	}
	for ref, want := range map[string]int64{"eng": gid["g1"], "G4": gid["g4"], itoa(gid["g2"]): gid["g2"], "OPS": gid["g4"]} {
		g, err := adm.ResolveGroup(ctx, "t1", ref)
		if err != nil || g.ID != want {
			t.Errorf("ResolveGroup(%q) = %d, %v; want %d", ref, g.ID, err, want)
		}
	}
	_, err = adm.ResolveGroup(ctx, "t1", "TWINS")
	wantCode(t, "ambiguous group", err, sync.EINVALID, `"TWINS"`, "ambiguous", itoa(gid["g2"]), itoa(gid["g3"]))
	_, err = adm.ResolveGroup(ctx, "t1", "Sales")
	wantCode(t, "unknown group", err, sync.ENOTFOUND, `"Sales"`)
	// Once g3 is archived, the live "Twins" wins.
	mustCycle(t, dir, snapshot([]sync.EntraUser{a, b, c}, []string{"a", "b", "c"},
		secGroup("g1", "Eng", "a"), secGroup("g2", "Twins", "b"), secGroup("g4", "Ops", "c")))
	if g, err := adm.ResolveGroup(ctx, "t1", "twins"); err != nil || g.ID != gid["g2"] {
		t.Fatalf("ResolveGroup(twins) with g3 archived = %+v, %v", g, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// testEntityOverrides: per-user and per-group overrides are set, changed one
// at a time and cleared; bad input changes nothing.
func testEntityOverrides(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	adm := adminOf(t, dir)
	mustCycle(t, dir, snapshot([]sync.EntraUser{user("a", "a@x.test"), user("b", "b@x.test")}, []string{"a", "b"}, secGroup("g1", "Eng", "a")))
	ua := byEntra(t, mustUsers(t, dir, "t1", ""), "a")
	u, err := adm.SetUserSetting(ctx, "t1", ua.ID, sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "false"})
	if err != nil || u.ID != ua.ID || u.RequireMobileAuth == nil || *u.RequireMobileAuth {
		t.Fatalf("set user override = %+v, %v", u, err)
	}
	if got := byEntra(t, mustUsers(t, dir, "t1", ""), "a"); got.RequireMobileAuth == nil || *got.RequireMobileAuth {
		t.Fatalf("user override not stored: %+v", got)
	}
	if other := byEntra(t, mustUsers(t, dir, "t1", ""), "b"); other.RequireMobileAuth != nil {
		t.Fatalf("override leaked to b: %+v", other)
	}
	_, err = adm.SetUserSetting(ctx, "t1", ua.ID, sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "maybe"})
	wantCode(t, "bad user value", err, sync.EINVALID, "maybe")
	_, err = adm.SetUserSetting(ctx, "t1", ua.ID, sync.SettingChange{Name: sync.SettingMembersMayStoreData, Value: "true"})
	wantCode(t, "group setting on a user", err, sync.EINVALID, sync.SettingMembersMayStoreData)
	_, err = adm.SetUserSetting(ctx, "t1", 987654, sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "true"})
	wantCode(t, "unknown user", err, sync.ENOTFOUND, "987654")
	if got := byEntra(t, mustUsers(t, dir, "t1", ""), "a"); got.RequireMobileAuth == nil || *got.RequireMobileAuth {
		t.Fatalf("failed changes altered the override: %+v", got)
	}
	u, err = adm.SetUserSetting(ctx, "t1", ua.ID, sync.SettingChange{Name: sync.SettingRequireMobileAuth})
	if err != nil || u.RequireMobileAuth != nil {
		t.Fatalf("clear user override = %+v, %v", u, err)
	}

	g1 := mustGroups(t, dir, "t1")[0]
	g, err := adm.SetGroupSetting(ctx, "t1", g1.ID, sync.SettingChange{Name: sync.SettingMembersMayStoreData, Value: "false"},
		sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "true"})
	if err != nil || g.ID != g1.ID || !reflect.DeepEqual(g.MembersMayStoreData, boolPtr(false)) || !reflect.DeepEqual(g.RequireMobileAuth, boolPtr(true)) ||
		!reflect.DeepEqual(g.Members, []string{"a"}) {
		t.Fatalf("set group overrides = %+v, %v", g, err)
	}
	// Changing one leaves the other.
	g, err = adm.SetGroupSetting(ctx, "t1", g1.ID, sync.SettingChange{Name: sync.SettingRequireMobileAuth})
	if err != nil || !reflect.DeepEqual(g.MembersMayStoreData, boolPtr(false)) || g.RequireMobileAuth != nil {
		t.Fatalf("clear one group override = %+v, %v", g, err)
	}
	if stored := mustGroups(t, dir, "t1")[0]; !reflect.DeepEqual(stored.MembersMayStoreData, boolPtr(false)) || stored.RequireMobileAuth != nil {
		t.Fatalf("stored group = %+v", stored)
	}
	_, err = adm.SetGroupSetting(ctx, "t1", g1.ID, sync.SettingChange{Name: sync.SettingAutoInvite, Value: "true"})
	wantCode(t, "tenant setting on a group", err, sync.EINVALID, sync.SettingAutoInvite)
	_, err = adm.SetGroupSetting(ctx, "t1", 987654, sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "true"})
	wantCode(t, "unknown group", err, sync.ENOTFOUND, "987654")
	_, err = adm.SetGroupSetting(ctx, "t1", g1.ID)
	wantCode(t, "no change", err, sync.EINVALID)
}

// testEffectiveSettings: overrides win over the configured settings and
// survive a re-registration with other settings; clearing one brings the
// configured value back; a bad change in a batch changes nothing.
func testEffectiveSettings(t *testing.T, dir store.Store) {
	ctx := context.Background()
	adm := adminOf(t, dir)
	cfg := sync.DefaultTenantSettings()
	registerTenant(t, dir, "t1", cfg)
	if eff, err := adm.EffectiveSettings(ctx, "t1"); err != nil || eff != cfg {
		t.Fatalf("effective without overrides = %+v, %v; want %+v", eff, err, cfg)
	}
	rep, err := adm.SetTenantSetting(ctx, "t1",
		sync.SettingChange{Name: sync.SettingAutoInvite, Value: "true"},
		sync.SettingChange{Name: sync.SettingEmailSource, Value: "UPN"},
		sync.SettingChange{Name: sync.SettingArchiveThresholdPercent, Value: "10"},
		sync.SettingChange{Name: sync.SettingGroupRequireMobileAuth, Value: "true"})
	if err != nil {
		t.Fatal(err)
	}
	want := cfg
	want.AutoInvite, want.EmailSource, want.ArchiveThresholdPercent, want.GroupRequireMobileAuth = true, sync.EmailFromUPN, 10, true
	if rep.Effective != want || rep.Configured != cfg || len(rep.Overrides) != 4 || string(rep.Overrides[sync.SettingEmailSource]) != `"upn"` ||
		string(rep.Overrides[sync.SettingArchiveThresholdPercent]) != "10" || rep.DisconnectedAt != nil {
		t.Fatalf("report after set = %+v", rep)
	}
	// The configuration changes (a restart registers it again): overrides stay on top.
	cfg2 := cfg
	cfg2.MembersMayStoreData, cfg2.ArchiveThreshold, cfg2.AutoInvite = false, 42, false
	registerTenant(t, dir, "t1", cfg2)
	want.MembersMayStoreData, want.ArchiveThreshold = false, 42
	if eff, err := adm.EffectiveSettings(ctx, "t1"); err != nil || eff != want {
		t.Fatalf("effective after re-register = %+v, %v; want %+v", eff, err, want)
	}
	rep, err = adm.SetTenantSetting(ctx, "t1", sync.SettingChange{Name: sync.SettingAutoInvite})
	want.AutoInvite = false
	if err != nil || rep.Effective != want || rep.Configured != cfg2 || len(rep.Overrides) != 3 {
		t.Fatalf("after clearing autoInvite = %+v, %v", rep, err)
	}
	for _, bad := range []struct {
		c       sync.SettingChange
		mention string
	}{
		{sync.SettingChange{Name: "autoinvite", Value: "true"}, "autoinvite"},
		{sync.SettingChange{Name: sync.SettingEmailSource, Value: "mailbox"}, "mailbox"},
		{sync.SettingChange{Name: sync.SettingArchiveThresholdPercent, Value: "101"}, "101"},
		{sync.SettingChange{Name: sync.SettingArchiveThreshold, Value: "-1"}, "-1"},
		{sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "sometimes"}, "sometimes"},
	} {
		// A good change first: the batch fails as a whole.
		_, err := adm.SetTenantSetting(ctx, "t1", sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "false"}, bad.c)
		wantCode(t, "SetTenantSetting "+bad.c.Name+"="+bad.c.Value, err, sync.EINVALID, bad.mention)
	}
	if _, err := adm.SetTenantSetting(ctx, "t1"); sync.ErrorCode(err) != sync.EINVALID {
		t.Fatalf("SetTenantSetting with no change = %v", err)
	}
	got, err := adm.TenantSettings(ctx, "t1")
	if err != nil || got.Effective != want || len(got.Overrides) != 3 {
		t.Fatalf("settings after failed changes = %+v, %v; want effective %+v", got, err, want)
	}
	if _, err := adm.EffectiveSettings(ctx, "nope"); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("EffectiveSettings(unknown) = %v", err)
	}
	if _, err := adm.SetTenantSetting(ctx, "nope", sync.SettingChange{Name: sync.SettingAutoInvite, Value: "true"}); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("SetTenantSetting(unknown) = %v", err)
	}
}

// testOverridesSurviveCycles: per-user, per-group and tenant overrides are
// left alone by cycles run through sync.Syncer that update, archive and
// restore the very users and groups that carry them (L8), and by
// RegisterTenant.
func testOverridesSurviveCycles(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	adm := adminOf(t, dir)
	a, b := user("a", "a@x.test"), user("b", "b@x.test")
	s1 := snapshot([]sync.EntraUser{a, b}, []string{"a", "b"}, secGroup("g1", "Eng", "a", "b"))
	mustCycle(t, dir, s1)
	ua := byEntra(t, mustUsers(t, dir, "t1", ""), "a")
	g1 := mustGroups(t, dir, "t1")[0]
	if _, err := adm.SetUserSetting(ctx, "t1", ua.ID, sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "false"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.SetGroupSetting(ctx, "t1", g1.ID, sync.SettingChange{Name: sync.SettingMembersMayStoreData, Value: "false"},
		sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "true"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.SetTenantSetting(ctx, "t1", sync.SettingChange{Name: sync.SettingRequireMobileAuth, Value: "false"}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		u := byEntra(t, mustUsers(t, dir, "t1", ""), "a")
		if !reflect.DeepEqual(u.RequireMobileAuth, boolPtr(false)) {
			t.Fatalf("%s: user override = %v", when, u.RequireMobileAuth)
		}
		var g sync.Group
		for _, x := range mustGroups(t, dir, "t1") {
			if x.EntraID == "g1" {
				g = x
			}
		}
		if !reflect.DeepEqual(g.MembersMayStoreData, boolPtr(false)) || !reflect.DeepEqual(g.RequireMobileAuth, boolPtr(true)) {
			t.Fatalf("%s: group overrides = %+v", when, g)
		}
		if eff, err := adm.EffectiveSettings(ctx, "t1"); err != nil || eff.RequireMobileAuth {
			t.Fatalf("%s: effective tenant settings = %+v, %v", when, eff, err)
		}
	}
	// a's e-mail and name change, the group is renamed.
	a2 := a
	a2.Mail, a2.DisplayName = "a.new@x.test", "Renamed"
	res := mustCycle(t, dir, snapshot([]sync.EntraUser{a2, b}, []string{"a", "b"}, secGroup("g1", "Engineering", "a", "b")))
	if c := res.Plan.Counts(); c["user.update"] != 1 || c["group.update"] != 1 {
		t.Fatalf("update cycle = %v", c)
	}
	check("after updates")
	// a is unassigned and leaves the group; the group is unassigned.
	res = mustCycle(t, dir, snapshot([]sync.EntraUser{a2, b}, []string{"b"}))
	if c := res.Plan.Counts(); c["user.archive"] != 1 || c["group.archive"] != 1 {
		t.Fatalf("archive cycle = %v", c)
	}
	check("after archives")
	res = mustCycle(t, dir, snapshot([]sync.EntraUser{a2, b}, []string{"a", "b"}, secGroup("g1", "Engineering", "a", "b")))
	if c := res.Plan.Counts(); c["user.restore"] != 1 || c["group.restore"] != 1 {
		t.Fatalf("restore cycle = %v", c)
	}
	check("after restores")
	registerTenant(t, dir, "t1", sync.DefaultTenantSettings())
	check("after re-registering the tenant")
	if res := mustCycle(t, dir, snapshot([]sync.EntraUser{a2, b}, []string{"a", "b"}, secGroup("g1", "Engineering", "a", "b"))); !res.Plan.Empty() {
		t.Fatalf("cycle over an unchanged tenant with overrides changes %+v", res.Plan.Changes)
	}
	check("after an idle cycle")
}

// testDisconnect: a dry run writes nothing; a disconnect makes every
// provisioned user and group manual in one step, keeping ids, statuses,
// paths and memberships, archives nobody and counts right; reconnect clears
// the mark.
func testDisconnect(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	adm := adminOf(t, dir)
	a, b, c, p := user("a", "a@x.test"), user("b", "b@x.test"), user("c", "c@x.test"), user("p", "p@x.test")
	all := []sync.EntraUser{a, b, c, p}
	mustCycle(t, dir, snapshot(all, []string{"a", "b", "c", "p"}, secGroup("g1", "Eng", "a", "b"), secGroup("g2", "Ops", "c")))
	// c is archived with g2; p is purged; a is invited; m is a manual user.
	mustCycle(t, dir, snapshot(all, []string{"a", "b", "p"}, secGroup("g1", "Eng", "a", "b")))
	users := mustUsers(t, dir, "t1", "")
	if err := dir.PurgeUser(ctx, "t1", byEntra(t, users, "p").ID); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.InviteUsers(ctx, "t1", []int64{byEntra(t, users, "a").ID}, false); err != nil {
		t.Fatal(err)
	}
	rawExec(t, dir, `INSERT INTO users (tenant_id, origin, email, email_key, status) VALUES ('t1', 'manual', 'm@x.test', 'm@x.test', 'active')`)

	before := snapshotDir(t, dir)
	rep, err := adm.Disconnect(ctx, "t1", true)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	wantByStatus := map[sync.Status]int{sync.StatusInvited: 1, sync.StatusStaged: 1, sync.StatusArchived: 1}
	if !rep.DryRun || rep.UserCount != 3 || rep.GroupCount != 2 || len(rep.Users) != 3 || len(rep.Groups) != 2 ||
		!reflect.DeepEqual(rep.UsersByStatus, wantByStatus) || rep.DisconnectedAt != nil || rep.AlreadyDisconnected {
		t.Fatalf("dry-run report = %+v", rep)
	}
	if after := snapshotDir(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("dry run changed the directory:\nbefore %+v\nafter  %+v", before, after)
	}
	if st, err := adm.TenantSettings(ctx, "t1"); err != nil || st.DisconnectedAt != nil {
		t.Fatalf("tenant after dry run = %+v, %v", st, err)
	}

	rep, err = adm.Disconnect(ctx, "t1", false)
	if err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	if rep.DryRun || rep.UserCount != 3 || rep.GroupCount != 2 || !reflect.DeepEqual(rep.UsersByStatus, wantByStatus) ||
		rep.DisconnectedAt == nil || rep.AlreadyDisconnected || time.Since(*rep.DisconnectedAt) > time.Minute {
		t.Fatalf("disconnect report = %+v", rep)
	}
	for _, u := range rep.Users {
		if u.Origin != sync.OriginManual || u.EntraID == "" {
			t.Fatalf("reported user = %+v", u)
		}
	}
	after := snapshotDir(t, dir)
	// Exactly the origin changed: the provisioned live users and all groups.
	wantUsers := before.Users
	for i := range wantUsers {
		if wantUsers[i].Origin == sync.OriginProvisioned && wantUsers[i].Status != sync.StatusPurged {
			wantUsers[i].Origin = sync.OriginManual
		}
	}
	if !reflect.DeepEqual(after.Users, wantUsers) {
		t.Fatalf("users after disconnect:\n%+v\nwant\n%+v", after.Users, wantUsers)
	}
	wantGroups := before.Groups
	for i := range wantGroups {
		wantGroups[i].Origin = sync.OriginManual
	}
	if !reflect.DeepEqual(after.Groups, wantGroups) {
		t.Fatalf("groups after disconnect:\n%+v\nwant\n%+v", after.Groups, wantGroups)
	}
	if n := len(mustUsers(t, dir, "t1", sync.StatusArchived)); n != 1 {
		t.Fatalf("%d archived users after disconnect, want the 1 archived before", n)
	}
	if !reflect.DeepEqual(after.Runs, before.Runs) {
		t.Fatalf("disconnect recorded a run")
	}
	evs := after.Events[len(before.Events):]
	if len(evs) != 1 || evs[0].Type != "tenant.disconnected" || !reflect.DeepEqual(evs[0].Data, map[string]string{"users": "3", "groups": "2"}) {
		t.Fatalf("events of disconnect = %+v", evs)
	}
	st, err := adm.TenantSettings(ctx, "t1")
	if err != nil || st.DisconnectedAt == nil || !st.DisconnectedAt.Equal(*rep.DisconnectedAt) {
		t.Fatalf("tenant after disconnect = %+v, %v (report %v)", st, err, rep.DisconnectedAt)
	}

	again, err := adm.Disconnect(ctx, "t1", false)
	if err != nil || !again.AlreadyDisconnected || again.UserCount != 0 || again.GroupCount != 0 ||
		again.DisconnectedAt == nil || !again.DisconnectedAt.Equal(*rep.DisconnectedAt) {
		t.Fatalf("second disconnect = %+v, %v", again, err)
	}

	was, err := adm.Reconnect(ctx, "t1")
	if err != nil || !was {
		t.Fatalf("reconnect = %v, %v", was, err)
	}
	if st, err := adm.TenantSettings(ctx, "t1"); err != nil || st.DisconnectedAt != nil {
		t.Fatalf("tenant after reconnect = %+v, %v", st, err)
	}
	if last := mustEvents(t, dir, "t1", 0, 1000); last[len(last)-1].Type != "tenant.reconnected" {
		t.Fatalf("last event after reconnect = %+v", last[len(last)-1])
	}
	if was, err := adm.Reconnect(ctx, "t1"); err != nil || was {
		t.Fatalf("second reconnect = %v, %v", was, err)
	}
	if _, err := adm.Disconnect(ctx, "nope", true); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("Disconnect(unknown) = %v", err)
	}
	if _, err := adm.Reconnect(ctx, "nope"); !errors.Is(err, sync.ErrTenantNotFound) {
		t.Fatalf("Reconnect(unknown) = %v", err)
	}
}

// testInviteBeyondAChunk invites more users than one statement names (the
// administration writes a few hundred rows to a statement): every one is
// invited, by id and then all staged, with one event each, in id order.
func testInviteBeyondAChunk(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	adm := adminOf(t, dir)
	const n = 1234
	var all []sync.EntraUser
	var ids []string
	for i := range n {
		id := fmt.Sprintf("u%04d", i)
		all, ids = append(all, user(id, id+"@x.test")), append(ids, id)
	}
	mustCycle(t, dir, snapshot(all, ids))
	users := mustUsers(t, dir, "t1", sync.StatusStaged)
	if len(users) != n {
		t.Fatalf("%d staged users, want %d", len(users), n)
	}
	evBefore := mustEvents(t, dir, "t1", 0, 10*n)
	last := evBefore[len(evBefore)-1].ID
	var first []int64
	for _, u := range users[:700] {
		first = append(first, u.ID)
	}
	got, err := adm.InviteUsers(ctx, "t1", first, false)
	if err != nil || len(got) != 700 {
		t.Fatalf("invite 700 by id = %d users, %v", len(got), err)
	}
	got, err = adm.InviteUsers(ctx, "t1", nil, true)
	if err != nil || len(got) != n-700 {
		t.Fatalf("invite all staged = %d users, %v; want %d", len(got), err, n-700)
	}
	if left := mustUsers(t, dir, "t1", sync.StatusStaged); len(left) != 0 {
		t.Fatalf("%d users still staged", len(left))
	}
	evs := mustEvents(t, dir, "t1", last, 10*n)
	if len(evs) != n {
		t.Fatalf("%d user.invited events, want %d", len(evs), n)
	}
	for i, e := range evs {
		want := users[i]
		if e.Type != "user.invited" || e.EntraID != want.EntraID || e.Data["email"] != want.Email {
			t.Fatalf("event %d = %+v, want user.invited of %s", i, e, want.EntraID)
		}
	}
}

// testUsersPage: a page of users filtered by status and text in the query,
// with the total it selects and each user's paths; the text's LIKE
// wildcards are taken literally.
func testUsersPage(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var users []sync.EntraUser
	var direct []string
	for i := range 12 {
		id := fmt.Sprintf("u%02d", i)
		users = append(users, user(id, fmt.Sprintf("%s@x.test", id)))
		direct = append(direct, id)
	}
	users = append(users, user("odd", "100%_sure@x.test"))
	direct = append(direct, "odd")
	cycle(t, dir, snapshot(users, direct, secGroup("g1", "Team", "u03")), now)
	page := func(q sync.UserQuery) ([]sync.User, int) {
		t.Helper()
		q, err := q.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		us, total, err := dir.UsersPage(ctx, "t1", q)
		if err != nil {
			t.Fatal(err)
		}
		return us, total
	}
	all, _ := page(sync.UserQuery{})
	if us, total := page(sync.UserQuery{Limit: 5, Offset: 2}); total != 13 || len(all) != 13 || !reflect.DeepEqual(us, all[2:7]) || len(us[1].Paths) == 0 {
		t.Fatalf("page 2..6: %d of %d: %+v, want %+v", len(us), total, us, all[2:7])
	}
	if us, total := page(sync.UserQuery{Text: "U03@X"}); total != 1 || us[0].EntraID != "u03" || len(us[0].Paths) != 2 {
		t.Fatalf("text u03: %+v of %d", us, total)
	}
	if _, total := page(sync.UserQuery{Text: "%_"}); total != 1 {
		t.Fatalf("a text with LIKE wildcards matched %d users, want the one that holds them", total)
	}
	if _, total := page(sync.UserQuery{Status: sync.StatusArchived}); total != 0 {
		t.Fatalf("archived: %d", total)
	}
	if us, total := page(sync.UserQuery{Offset: 100}); total != 13 || len(us) != 0 {
		t.Fatalf("beyond the end: %d of %d", len(us), total)
	}
}
