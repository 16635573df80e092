package sync_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

// Glitches: answers Graph gives that look plausible but would remove access
// in bulk. Each is caught by a count (C4: the cycle fails, nothing applies)
// or by the archive guard (C6: the destructive changes are held).

// glitchTenant is baseTenant with users 1000..1000+n-1 in group 100 (Staff),
// which also holds users 2 and 3.
func glitchTenant(n int) *graphtest.Tenant {
	tn := baseTenant()
	for i := 1000; i < 1000+n; i++ {
		tn.Users = append(tn.Users, tuser(i, true))
		tn.Groups[0].Members = append(tn.Groups[0].Members, gid(i))
	}
	return tn
}

// mustFailUnchanged runs a cycle that must fail as an incomplete read naming
// want, with the directory as it was and a failed run recorded.
// mustFailUnchanged runs a full cycle (the faults are in the full read's
// requests) that must fail naming want and change nothing.
func mustFailUnchanged(t *testing.T, h *harness, want string) {
	t.Helper()
	before := h.dump(t)
	res, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{Trigger: "test", Full: true})
	if err == nil {
		t.Fatalf("cycle succeeded; plan %v", res.Plan.Counts())
	}
	if !errors.Is(err, sync.ErrSnapshotIncomplete) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want ErrSnapshotIncomplete naming %q", err, want)
	}
	if h.dump(t) != before {
		t.Fatalf("the failed cycle changed the directory")
	}
	runs, _ := h.db.Runs(context.Background(), tenantName, 1)
	if len(runs) != 1 || runs[0].Outcome != sync.OutcomeFailed || !strings.Contains(runs[0].Error, want) {
		t.Fatalf("last run = %+v, want a failed run naming %q", runs, want)
	}
}

func TestC4_EmptyAssignmentListFailsAgainstItsCount(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, glitchTenant(40), nil)
	h.cycle(t)
	h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", Page: 1, Body: `{"value":[]}`, Times: 1})
	mustFailUnchanged(t, h, "assignments of "+spID+": listed 0, Graph counts 3")
	if res := h.cycle(t); !res.Plan.Empty() {
		t.Fatalf("next sound cycle = %v, want nothing to do", res.Plan.Counts())
	}
}

func TestC6_EmptyAssignmentListHeldWhenItsCountAgrees(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, glitchTenant(5), nil) // 8 users, fewer than the guard's minimum
	h.cycle(t)
	h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo", Page: 1, Body: `{"value":[]}`})
	h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo/$count", Body: `0`})
	before := h.dump(t, "users", "groups", "memberships")
	res := h.fullCycle(t)
	if res.Run.Outcome != sync.OutcomeHeld || !strings.Contains(res.Plan.HeldReason, "empty assignment list") {
		t.Fatalf("run %s (%s), want held as an empty assignment list", res.Run.Outcome, res.Plan.HeldReason)
	}
	c := res.Plan.Counts()
	if c["user.archive"]+c["group.archive"]+c["membership.remove"] != 0 || res.Run.Held != 8+1 {
		t.Fatalf("applied %v, held %d; want every archive and removal held", c, res.Run.Held)
	}
	if h.dump(t, "users", "groups", "memberships") != before {
		t.Fatalf("the held cycle changed users, groups or memberships")
	}
}

func TestC4_DroppedMemberPageFailsTheSnapshot(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, glitchTenant(2100), nil) // three pages at $top=999
	h.cycle(t)
	h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}/members", ID: gid(100), Page: 2, DropPage: true, Times: 1})
	mustFailUnchanged(t, h, "members of group "+gid(100)+": listed 1998, Graph counts 2102")
	if res := h.cycle(t); !res.Plan.Empty() {
		t.Fatalf("next sound cycle = %v, want nothing to do", res.Plan.Counts())
	}
}

func TestC4_GroupLookUp404LeavesTheGroupUnchanged(t *testing.T) {
	t.Parallel()
	h := MustHarness(t, glitchTenant(3), nil)
	h.cycle(t)
	before := h.dump(t, "users", "groups", "memberships")
	h.srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/groups/{id}", ID: gid(100), Status: 404, Times: 1})
	res := h.fullCycle(t)
	if !res.Plan.Empty() || len(res.Plan.Held) != 0 {
		t.Fatalf("plan %v held %d, want nothing changed", res.Plan.Counts(), len(res.Plan.Held))
	}
	if sk := skipped(res.Plan, sync.SkipGroup, gid(100)); sk == nil || !strings.Contains(sk.Reason, "left unchanged") {
		t.Fatalf("skipped = %+v, want the group left unchanged with a reason", res.Plan.Skipped)
	}
	if h.dump(t, "users", "groups", "memberships") != before {
		t.Fatalf("one 404 changed users, groups or memberships")
	}
	// Really deleted: its assignment goes with it, and the group is archived.
	h.srv.DeleteGroup(gid(100))
	if res := h.cycle(t); res.Plan.Counts()["group.archive"] != 1 {
		t.Fatalf("after deleting the group: %v, want it archived", res.Plan.Counts())
	}
}

func TestC6_MassMembershipRemovalHeld(t *testing.T) {
	t.Parallel()
	tn := glitchTenant(100)
	for i := 1000; i < 1100; i++ { // also directly assigned: they stay in scope
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(i)})
	}
	h := MustHarness(t, tn, nil)
	h.cycle(t)
	for i := 1000; i < 1060; i++ {
		h.srv.RemoveMember(gid(100), gid(i))
	}
	before := h.dump(t, "memberships")
	res := h.cycle(t)
	if res.Run.Outcome != sync.OutcomeHeld || res.Run.Held != 60 || !strings.Contains(res.Plan.HeldReason, "60 membership removals are more than 30% of 102 memberships") {
		t.Fatalf("run %s held %d (%s), want 60 removals held", res.Run.Outcome, res.Run.Held, res.Plan.HeldReason)
	}
	if h.dump(t, "memberships") != before {
		t.Fatalf("held removals were applied")
	}
	_, log, _ := h.db.Run(context.Background(), res.Run.ID)
	res2, err := h.syncer.Cycle(context.Background(), tenantName, h.src, sync.CycleOptions{Trigger: "approve", Approved: sync.HeldChanges(log)})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Plan.Counts()["membership.remove"] != 60 || res2.Run.Outcome != sync.OutcomeSucceeded {
		t.Fatalf("approval cycle = %v %s, want the 60 removals applied", res2.Plan.Counts(), res2.Run.Outcome)
	}
	if g := h.groups(t)[gid(100)]; len(g.Members) != 42 {
		t.Fatalf("group has %d members after approval, want 42", len(g.Members))
	}
}

func TestC6_MassGroupArchivesHeld(t *testing.T) {
	t.Parallel()
	tn := baseTenant()
	for i := 200; i < 210; i++ {
		tn.Groups = append(tn.Groups, secGroup(i, "Team "+gid(i)[30:], gid(4)))
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(i)})
	}
	h := MustHarness(t, tn, nil)
	h.cycle(t)
	for i := 200; i < 206; i++ {
		h.srv.Unassign(gid(i))
	}
	before := h.dump(t, "groups", "memberships")
	res := h.cycle(t)
	if res.Run.Outcome != sync.OutcomeHeld || !strings.Contains(res.Plan.HeldReason, "6 group archives are more than 30% of 11 provisioned groups") {
		t.Fatalf("run %s (%s), want the 6 group archives held", res.Run.Outcome, res.Plan.HeldReason)
	}
	if h.dump(t, "groups", "memberships") != before {
		t.Fatalf("held group archives were applied")
	}
	if _, err := h.db.ReviewRun(context.Background(), res.Run.ID, sync.ReviewRejected); err != nil {
		t.Fatal(err)
	}
	for i := 200; i < 206; i++ {
		h.srv.Assign(gid(i))
	}
	// User 4's paths follow the assignments (an update); no group was archived.
	if res := h.cycle(t); res.Run.Outcome != sync.OutcomeSucceeded || len(res.Plan.Held) != 0 {
		t.Fatalf("after rejecting and assigning again: %s %v", res.Run.Outcome, res.Plan.Counts())
	}
	for id, g := range h.groups(t) {
		if g.Archived() {
			t.Fatalf("group %s was archived", id)
		}
	}
}

// TestC6_ArchivingOneLargeGroupHoldsItsMemberships: one group archive is
// below the group thresholds, but its memberships go with it and count.
func TestC6_ArchivingOneLargeGroupHoldsItsMemberships(t *testing.T) {
	t.Parallel()
	tn := glitchTenant(60)
	for i := 1000; i < 1060; i++ { // directly assigned too: nobody is archived
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: gid(i)})
	}
	h := MustHarness(t, tn, nil)
	h.cycle(t)
	h.srv.Unassign(gid(100))
	before := h.dump(t, "groups", "memberships")
	res := h.cycle(t)
	if res.Run.Outcome != sync.OutcomeHeld || !strings.Contains(res.Plan.HeldReason, "62 membership removals") {
		t.Fatalf("run %s (%s), want the group's 62 memberships held", res.Run.Outcome, res.Plan.HeldReason)
	}
	if h.dump(t, "groups", "memberships") != before {
		t.Fatalf("the held group archive was applied")
	}
}
