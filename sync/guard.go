package sync

import (
	"fmt"
	"strings"
)

// The archive guard (C6) holds back every change that removes access when
// there are more of them than an administrator would make by hand: user
// archives, group archives and membership removals, each kind counted
// against its own thresholds (an absolute number and a percentage of what
// the tenant has). In a password manager a membership is access to shared
// data, so losing them in bulk is as much an incident as losing users.

// The percentage thresholds trip only from these counts on: archiving 2 of 5
// users, or 1 of 3 groups, is not an accident.
const (
	GuardMinimum           = 10 // user archives
	GroupGuardMinimum      = 5  // group archives
	MembershipGuardMinimum = 50 // membership removals
)

// HeldKey names a destructive change across runs: what an approval lets
// through. "user:ID", "group:ID" or "membership:GROUP/USER".
func HeldKey(entity Entity, entraID, groupEntraID string) string {
	if entity == EntityMembership {
		return string(entity) + ":" + groupEntraID + "/" + entraID
	}
	return string(entity) + ":" + entraID
}

func (ch *Change) heldKey() string { return HeldKey(ch.Entity, ch.EntraID, ch.GroupEntraID) }

// destructive reports whether ch removes access: a user or group archive, or
// a membership removal.
func (ch *Change) destructive() bool {
	return (ch.Action == ActionArchive && (ch.Entity == EntityUser || ch.Entity == EntityGroup)) ||
		(ch.Action == ActionRemove && ch.Entity == EntityMembership)
}

// guardCount is one kind of destructive change against its thresholds.
type guardCount struct {
	what              string // "user archives"
	of                string // "provisioned users"
	n, live           int
	absolute, percent int
	minimum           int
}

// tripped says why the count is over a threshold, or "".
func (g guardCount) tripped() string {
	switch {
	case g.n == 0:
		return ""
	case g.absolute > 0 && g.n > g.absolute:
		return fmt.Sprintf("%d %s exceed the threshold of %d", g.n, g.what, g.absolute)
	case g.percent > 0 && g.n >= g.minimum && g.n*100 > g.percent*g.live:
		return fmt.Sprintf("%d %s are more than %d%% of %d %s", g.n, g.what, g.percent, g.live, g.of)
	}
	return ""
}

// Guard applies the archive guard (C6) to a plan. It counts the plan's user
// archives, group archives and membership removals — an archived group's
// memberships, which go with it, and the removals of users that stay (an
// archived user's removals are counted as its archive) —
// and when one kind exceeds the tenant's thresholds (TenantSettings: an
// absolute number, or a percentage of the tenant's live users, groups or
// memberships once the count reaches the kind's minimum), when the read
// listed no assignment at all while the directory has provisioned users
// or groups, or while an earlier held run awaits review, every destructive
// change of the plan moves to plan.Held; the rest of the plan still applies.
// approved names the changes an administrator approved (HeldKeys of a held
// run): they pass, and only the others are counted and held.
func Guard(plan *Plan, st *State, approved map[string]bool) {
	set := st.Tenant.Settings
	users := guardCount{what: "user archives", of: "provisioned users", absolute: set.ArchiveThreshold,
		percent: set.ArchiveThresholdPercent, minimum: GuardMinimum}
	groups := guardCount{what: "group archives", of: "provisioned groups", absolute: set.GroupArchiveThreshold,
		percent: set.GroupArchiveThresholdPercent, minimum: GroupGuardMinimum}
	members := guardCount{what: "membership removals", of: "memberships", absolute: set.MembershipRemovalThreshold,
		percent: set.MembershipRemovalThresholdPercent, minimum: MembershipGuardMinimum}
	archived := map[string]bool{} // users and groups archived by the plan: their memberships go with them
	destructive := 0
	for i := range plan.Changes {
		ch := &plan.Changes[i]
		if !ch.destructive() || approved[ch.heldKey()] {
			continue
		}
		destructive++
		switch ch.Entity {
		case EntityUser:
			users.n++
			archived[ch.heldKey()] = true
		case EntityGroup:
			groups.n++
			archived[ch.heldKey()] = true
			if ch.GroupBefore != nil { // its memberships go with it, in this one change
				members.n += len(ch.GroupBefore.Members)
			}
		}
	}
	if destructive == 0 {
		return
	}
	for i := range plan.Changes {
		ch := &plan.Changes[i]
		if ch.Entity == EntityMembership && ch.Action == ActionRemove && !approved[ch.heldKey()] &&
			!archived[HeldKey(EntityUser, ch.EntraID, "")] && !archived[HeldKey(EntityGroup, ch.GroupEntraID, "")] {
			members.n++
		}
	}
	users.live, groups.live, members.live = liveTotals(st)
	var reasons []string
	switch {
	case st.Tenant.PendingHold && approved == nil:
		reasons = append(reasons, "an earlier run's held changes await review (entrasync runs approve|reject)")
	case plan.noAssignments && users.live+groups.live > 0:
		reasons = append(reasons, fmt.Sprintf("Graph listed no assignment while %d users and %d groups are provisioned: "+
			"an empty assignment list is never applied as a mass removal", users.live, groups.live))
	}
	for _, g := range []guardCount{users, groups, members} {
		if r := g.tripped(); r != "" {
			reasons = append(reasons, r)
		}
	}
	if len(reasons) == 0 {
		return
	}
	plan.HeldReason = strings.Join(reasons, "; ")
	kept := plan.Changes[:0:0]
	for _, ch := range plan.Changes {
		if ch.destructive() && !approved[ch.heldKey()] {
			ch.Reason = "held by the archive guard: " + ch.Reason
			plan.Held = append(plan.Held, ch)
			continue
		}
		kept = append(kept, ch)
	}
	plan.Changes = kept
}

// liveTotals counts the directory's live provisioned users, groups and
// those groups' memberships: st.Totals when st is only part of it.
func liveTotals(st *State) (users, groups, memberships int) {
	t := st.Totals
	if t == nil {
		if st.Partial {
			// Counting a part would measure against the wrong whole.
			panic("sync: the archive guard needs the totals of a partly loaded directory")
		}
		whole := TotalsOf(st)
		t = &whole
	}
	return t.Users, t.Groups, t.Memberships
}

// TotalsOf counts what the archive guard measures against in a whole
// State: live provisioned users and groups, and those groups' memberships.
func TotalsOf(st *State) Totals {
	var n Totals
	for i := range st.Users {
		if u := &st.Users[i]; u.Origin == OriginProvisioned && u.Status != StatusArchived && u.Status != StatusPurged {
			n.Users++
		}
	}
	for i := range st.Groups {
		if g := &st.Groups[i]; g.Origin == OriginProvisioned && !g.Archived() {
			n.Groups++
			n.Memberships += len(g.Members)
		}
	}
	return n
}

// HeldChanges returns the destructive changes a run's provisioning log shows
// as held (their HeldKeys): what approving that run lets through.
func HeldChanges(log []LogEntry) map[string]bool {
	ids := map[string]bool{}
	for _, e := range log {
		if e.Status == "held" {
			ids[HeldKey(e.Entity, e.EntraID, e.GroupEntraID)] = true
		}
	}
	return ids
}
