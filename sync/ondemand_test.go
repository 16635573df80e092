package sync_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

func (h *harness) provisionUser(tb testing.TB, q string, dry bool) *sync.OnDemand {
	tb.Helper()
	od, err := h.syncer.ProvisionUser(context.Background(), tenantName, h.src, q, sync.CycleOptions{DryRun: dry, Trigger: "test"})
	if err != nil {
		tb.Fatalf("provision user %s: %v", q, err)
	}
	return od
}

func (h *harness) provisionGroup(tb testing.TB, q string, dry bool) *sync.OnDemand {
	tb.Helper()
	od, err := h.syncer.ProvisionGroup(context.Background(), tenantName, h.src, q, sync.CycleOptions{DryRun: dry, Trigger: "test"})
	if err != nil {
		tb.Fatalf("provision group %s: %v", q, err)
	}
	return od
}

func stepNames(od *sync.OnDemand) string {
	var n []string
	for _, s := range od.Steps {
		n = append(n, s.Name)
	}
	return strings.Join(n, ",")
}

func actions(od *sync.OnDemand) string {
	var a []string
	for _, ch := range od.Plan.Changes {
		a = append(a, string(ch.Entity)+"."+string(ch.Action))
	}
	slices.Sort(a)
	return strings.Join(a, ",")
}

func stepText(od *sync.OnDemand, name string) string {
	for _, s := range od.Steps {
		if s.Name == name {
			return strings.Join(s.Details, "\n")
		}
	}
	return ""
}

func TestC2_ProvisionUserEveryAction(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil)
	// Created: only this user, found by UPN; the others wait for a cycle.
	od := h.provisionUser(t, "user2@acme.test", false)
	if stepNames(od) != "connection,import,scope,match,action" {
		t.Fatalf("steps = %s", stepNames(od))
	}
	if got := actions(od); got != "group.create,membership.add,user.create" {
		t.Fatalf("create actions = %s", got)
	}
	if s := stepText(od, "scope"); !strings.Contains(s, "in scope through direct, group:"+gid(100)) {
		t.Fatalf("scope step does not list both paths:\n%s", s)
	}
	if s := stepText(od, "match"); !strings.Contains(s, "no local user") {
		t.Fatalf("match step = %s", s)
	}
	if us := h.users(t); len(us) != 1 || us[gid(2)].Status != sync.StatusStaged {
		t.Fatalf("users after provisioning one = %+v", us)
	}
	// No change.
	if od := h.provisionUser(t, gid(2), false); len(od.Plan.Changes) != 0 || stepText(od, "action") != "no change" {
		t.Fatalf("second provision = %s / %s", actions(od), stepText(od, "action"))
	}
	// Updated, with the attribute shown.
	setUser(h.srv, gid(2), func(u *graphtest.User) { u.DisplayName = "Renamed Two" })
	od = h.provisionUser(t, gid(2), false)
	if actions(od) != "user.update" || !strings.Contains(stepText(od, "action"), `displayName "User 2" → "Renamed Two"`) {
		t.Fatalf("update = %s / %s", actions(od), stepText(od, "action"))
	}
	if s := stepText(od, "match"); !strings.Contains(s, "found by object id") {
		t.Fatalf("match step = %s", s)
	}
	// Archived once no path is left.
	h.srv.Unassign(gid(2))
	h.srv.RemoveMember(gid(100), gid(2))
	od = h.provisionUser(t, gid(2), false)
	if actions(od) != "membership.remove,user.archive" || h.users(t)[gid(2)].Status != sync.StatusArchived {
		t.Fatalf("archive = %s, status %s", actions(od), h.users(t)[gid(2)].Status)
	}
	// Restored.
	h.srv.Assign(gid(2))
	od = h.provisionUser(t, gid(2), false)
	if actions(od) != "user.restore" || h.users(t)[gid(2)].Status != sync.StatusStaged {
		t.Fatalf("restore = %s", actions(od))
	}
	runs, _ := h.db.Runs(context.Background(), tenantName, 10)
	if len(runs) != 5 || !strings.Contains(runs[0].Trigger, "user "+gid(2)) {
		t.Fatalf("runs = %+v, want one per provision on demand", runs)
	}
}

func TestC2_ProvisionUserLeavingAGroupKeepsOtherPath(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil)
	h.cycle(t)
	h.srv.RemoveMember(gid(100), gid(2)) // user 2 keeps its direct assignment
	h.srv.Assign(gid(5))                 // an unrelated change: not applied
	od := h.provisionUser(t, gid(2), false)
	if actions(od) != "membership.remove,user.update" {
		t.Fatalf("actions = %s", actions(od))
	}
	u := h.users(t)[gid(2)]
	if u.Status != sync.StatusStaged || !slices.Equal(u.Paths, []string{"direct"}) {
		t.Fatalf("user 2 = %s %v, want staged with the direct path", u.Status, u.Paths)
	}
	if _, ok := h.users(t)[gid(5)]; ok {
		t.Fatalf("provision on demand of user 2 applied user 5")
	}
}

func TestC2_ProvisionUserDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, baseTenant(), nil) // what was written shows in the database's tables
	before := h.dump(t, "users", "groups", "memberships", "runs", "events")
	od := h.provisionUser(t, gid(1), true)
	if actions(od) != "user.create" || !od.DryRun {
		t.Fatalf("dry run plan = %s", actions(od))
	}
	if after := h.dump(t, "users", "groups", "memberships", "runs", "events"); after != before {
		t.Fatalf("dry run wrote")
	}
}

func TestC2_ProvisionUserUnknown(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil)
	od := h.provisionUser(t, "nobody@acme.test", false)
	if len(od.Plan.Changes) != 0 || !strings.Contains(stepText(od, "import"), "no user") {
		t.Fatalf("unknown user: %s / %s", actions(od), stepText(od, "import"))
	}
}

func TestC2_ProvisionGroupEveryAction(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	tn.Groups = append(tn.Groups, secGroup(101, "Ops", gid(4), gid(2)))
	h := MustMemoryHarness(t, tn, nil)
	h.cycle(t)
	// Created: a newly assigned group, by display name, with a new member.
	h.srv.Assign(gid(101))
	od := h.provisionGroup(t, "Ops", false)
	if got := actions(od); got != "group.create,membership.add,membership.add,user.create,user.update" {
		t.Fatalf("create actions = %s", got)
	}
	if u := h.users(t)[gid(2)]; !slices.Equal(u.Paths, []string{"direct", "group:" + gid(100), "group:" + gid(101)}) {
		t.Fatalf("user 2 paths = %v", u.Paths)
	}
	// Renamed.
	h.srv.Update(func(t *graphtest.Tenant) { t.Groups[1].DisplayName = "Operations" })
	if od := h.provisionGroup(t, gid(101), false); actions(od) != "group.update" {
		t.Fatalf("rename = %s", actions(od))
	}
	// Members leave: user 4 had only this path (archived), user 2 keeps others.
	h.srv.RemoveMember(gid(101), gid(4))
	h.srv.RemoveMember(gid(101), gid(2))
	od = h.provisionGroup(t, "Operations", false)
	if got := actions(od); got != "membership.remove,membership.remove,user.archive,user.update" {
		t.Fatalf("leavers = %s", got)
	}
	us := h.users(t)
	if us[gid(4)].Status != sync.StatusArchived || us[gid(2)].Status != sync.StatusStaged {
		t.Fatalf("user 4 %s, user 2 %s", us[gid(4)].Status, us[gid(2)].Status)
	}
	// Unassigned: the group is archived, user 3 (only Staff) too.
	h.srv.Unassign(gid(100))
	od = h.provisionGroup(t, "Staff", false)
	if !strings.Contains(actions(od), "group.archive") || h.users(t)[gid(3)].Status != sync.StatusArchived ||
		h.users(t)[gid(2)].Status != sync.StatusStaged {
		t.Fatalf("unassigned group = %s; user 3 %s", actions(od), h.users(t)[gid(3)].Status)
	}
	if g := h.groups(t)[gid(100)]; !g.Archived() {
		t.Fatalf("group not archived")
	}
	// Restored, no change.
	h.srv.Assign(gid(100))
	if od := h.provisionGroup(t, gid(100), false); !strings.Contains(actions(od), "group.restore") {
		t.Fatalf("restore = %s", actions(od))
	}
	if od := h.provisionGroup(t, gid(100), false); len(od.Plan.Changes) != 0 {
		t.Fatalf("no change = %s", actions(od))
	}
	// A full cycle afterwards agrees with everything provisioned on demand.
	if res := h.cycle(t); !res.Plan.Empty() {
		t.Fatalf("full cycle after provisioning on demand still changes: %+v", res.Plan.Counts())
	}
}

// TestC2_ProvisionUserByStaleUPNArchivesNobody: an old UPN finds nobody in
// Entra; that is not proof the user is gone, so nothing changes.
func TestC2_ProvisionUserByStaleUPNArchivesNobody(t *testing.T) {
	t.Parallel()
	h := MustMemoryHarness(t, baseTenant(), nil)
	h.cycle(t)
	setUser(h.srv, gid(1), func(u *graphtest.User) { u.UserPrincipalName = "renamed@acme.test" })
	od := h.provisionUser(t, "user1@acme.test", false)
	if len(od.Plan.Changes) != 0 || h.users(t)[gid(1)].Status != sync.StatusStaged {
		t.Fatalf("stale UPN: %s, user 1 %s", actions(od), h.users(t)[gid(1)].Status)
	}
}
