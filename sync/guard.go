package sync

import "fmt"

// GuardMinimum is the number of archives below which the percentage
// threshold never trips: archiving 2 of 5 users is not an accident.
const GuardMinimum = 10

// Guard applies the archive guard (C6) to a plan: when the plan would
// archive more users than the tenant's threshold (ArchiveThreshold users, or
// ArchiveThresholdPercent of its live provisioned users once at least
// GuardMinimum are archived), or while an earlier held run awaits review, the
// archives and those users' membership removals move to plan.Held; the rest
// of the plan still applies. approved names the users whose archives an
// administrator approved (a held run's): they pass, and only the others are
// counted and held.
func Guard(plan *Plan, st *State, approved map[string]bool) {
	archives := 0
	for _, ch := range plan.Changes {
		if ch.Entity == EntityUser && ch.Action == ActionArchive && !approved[ch.EntraID] {
			archives++
		}
	}
	if archives == 0 {
		return
	}
	live := 0
	for i := range st.Users {
		u := &st.Users[i]
		if u.Origin == OriginProvisioned && u.Status != StatusArchived && u.Status != StatusPurged {
			live++
		}
	}
	set := st.Tenant.Settings
	switch {
	case st.Tenant.PendingHold && approved == nil:
		plan.HeldReason = "an earlier run's held archives await review (entrasync runs approve|reject)"
	case set.ArchiveThreshold > 0 && archives > set.ArchiveThreshold:
		plan.HeldReason = fmt.Sprintf("%d archives exceed the threshold of %d", archives, set.ArchiveThreshold)
	case set.ArchiveThresholdPercent > 0 && archives >= GuardMinimum && archives*100 > set.ArchiveThresholdPercent*live:
		plan.HeldReason = fmt.Sprintf("%d archives are more than %d%% of %d provisioned users", archives, set.ArchiveThresholdPercent, live)
	default:
		return
	}
	held := map[string]bool{}
	kept := plan.Changes[:0:0]
	for _, ch := range plan.Changes {
		if ch.Entity == EntityUser && ch.Action == ActionArchive && !approved[ch.EntraID] {
			held[ch.EntraID] = true
		}
	}
	for _, ch := range plan.Changes {
		if held[ch.EntraID] && (ch.Entity == EntityUser || (ch.Entity == EntityMembership && ch.Action == ActionRemove)) {
			ch.Reason = "held by the archive guard: " + ch.Reason
			plan.Held = append(plan.Held, ch)
			continue
		}
		kept = append(kept, ch)
	}
	plan.Changes = kept
}

// HeldArchives returns the users whose archives a run's provisioning log
// shows as held: what approving that run lets through.
func HeldArchives(log []LogEntry) map[string]bool {
	ids := map[string]bool{}
	for _, e := range log {
		if e.Status == "held" && e.Entity == EntityUser && e.Action == ActionArchive {
			ids[e.EntraID] = true
		}
	}
	return ids
}
